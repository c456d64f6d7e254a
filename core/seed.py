"""Demo data: departments, catalogue items and one account per role (dev only, password `demo`)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core import guides, themes
from core.catalogue import GuideContent, GuideStatus, ItemSnapshot, ThemeDefinition
from core.models import Account, Department, GuideVersion, ServiceItem, Theme
from core.security import hash_password
from core.themes import THEMES

DEMO_PASSWORD = "demo"

DEPARTMENTS: dict[str, str] = {
    "market": "北京市市场监督管理局",
    "tax": "国家税务总局北京市税务局",
    "police": "北京市公安局",
    "hrss": "北京市人力资源和社会保障局",
    "health": "北京市卫生健康委员会",
    "hpf": "北京住房公积金管理中心",
    "culture": "北京市文化和旅游局",
}


# Where and when the city-level guides say an item is handled; districts localize these.
_CENTRE = "北京市政务服务中心（丰台区西三环南路1号）综合窗口"
_HOURS = "周一至周五 9:00—17:00（法定节假日除外）；网上办理7×24小时受理"
_COMPLAINT = "12345市民服务热线；首都之窗“好差评”；北京市政务服务管理局监督电话 010-89150000"

_HOTLINES: dict[str, str] = {
    "market": "010-12315；北京市市场监督管理局政务服务咨询 010-82691000",
    "tax": "12366纳税缴费服务热线",
    "police": "110（非紧急事务请拨打 12345）；公安局人口管理咨询 010-84020101",
    "hrss": "12333人力资源和社会保障咨询服务热线",
    "health": "12320卫生健康热线",
    "hpf": "12329住房公积金服务热线",
    "culture": "12318文化市场举报热线；北京市文化和旅游局政务服务咨询 010-85157000",
}


def _m(
    code: str,
    name: str,
    required: bool = True,
    form: str = "原件",
    copies: int = 1,
    deferrable: bool = False,
    note: str = "",
    shared: str | None = None,
) -> dict:
    return {
        "shared_code": shared,
        "code": code,
        "name": name,
        "form": form,
        "copies": copies,
        "required": required,
        "deferrable": deferrable,
        "note": note,
    }


def _steps(departments: list[str], signature_mode: str) -> list[dict]:
    """受理 → 审查（several departments in parallel）→ 决定 → 送达."""
    lead = departments[0]
    decide = {
        "sign_once": "经办人审核并签批（签一次）",
        "sign_twice": "经办人审核，首席代表签批（签两次）",
        "collective": "经办人审核，集体讨论决定后由首席代表签发",
    }[signature_mode]
    steps = [
        {"stage": 1, "name": "受理", "department": lead, "action": "综合窗口收件，1个工作日内作出受理决定"}
    ]
    steps += [
        {"stage": 2, "name": "审查", "department": d, "action": "对申请材料进行实质审查，必要时现场核查"}
        for d in departments
    ]
    steps.append({"stage": 3, "name": "决定", "department": lead, "action": decide})
    steps.append(
        {"stage": 4, "name": "送达", "department": lead, "action": "窗口领取、免费邮寄或电子证照送达"}
    )
    return steps


def _guide(code: str, **content) -> dict:
    """A full city-level guide; the common elements default to what most Beijing guides state."""
    departments = content["departments"]
    defaults = {
        "fee_standard": "不收费",
        "fee_basis": "本事项不收取费用",
        "deferral_policy": "申请材料中次要材料欠缺或存在瑕疵、申请人书面承诺限期补正的，可先行容缺受理",
        "process": _steps(departments, content["signature_mode"]),
        "channels": ["online", "window", "mail"],
        "handling_scope": "city_wide",
        "appointment": {"available": True, "note": "可通过“北京通”App、首都之窗或窗口电话预约办理"},
        "online_payment": {"available": False, "note": "本事项不收费，无需支付"},
        "courier_delivery": {"available": True, "note": "办理结果可选择EMS免费邮寄送达"},
        "place": _CENTRE,
        "hours": _HOURS,
        "consultation": _HOTLINES[departments[0]],
        "complaint": _COMPLAINT,
        "result_sample": f"https://banshi.beijing.gov.cn/samples/{code}.pdf",
    }
    return {"code": code, "content": {**defaults, **content}}


ITEMS: list[dict] = [
    _guide(
        "market-001",
        name="个体工商户设立登记",
        item_type="行政许可",
        legal_basis=["《促进个体工商户发展条例》第八条", "《中华人民共和国市场主体登记管理条例》第三条"],
        implementing_body="北京市市场监督管理局及各区市场监督管理局",
        acceptance_conditions=[
            "有经营能力的自然人或家庭",
            "有固定的经营场所，且符合城市规划和管理规定",
            "经营范围不属于法律、行政法规禁止从事的行业",
        ],
        served_parties=["自然人"],
        legal_time_limit_days=15,
        promised_time_limit_days=1,
        result_name="个体工商户营业执照",
        materials=[
            _m("M01", "个体工商户登记（备案）申请书", form="电子"),
            _m("M02", "经营者身份证明", form="复印件", shared="LEGAL_REP_ID"),
            _m(
                "M03",
                "经营场所使用证明",
                form="复印件",
                deferrable=True,
                note="租赁合同或产权证明",
                shared="PREMISES_PROOF",
            ),
            _m("M04", "委托代理人身份证明及委托书", required=False),
        ],
        review_criteria=["申请材料齐全、符合法定形式", "名称不与同行政区划内已登记名称相同"],
        signature_mode="sign_once",
        departments=["market"],
        form_fields=[
            "operator_name",
            "business_name",
            "business_address",
            "business_scope",
            "employee_count",
        ],
    ),
    _guide(
        "market-002",
        name="食品经营许可证核发",
        item_type="行政许可",
        legal_basis=["《中华人民共和国食品安全法》第三十五条", "《食品经营许可和备案管理办法》"],
        implementing_body="各区市场监督管理局",
        acceptance_conditions=[
            "已取得营业执照等合法主体资格",
            "具有与经营的食品品种、数量相适应的经营场所",
            "有食品安全管理人员和保证食品安全的规章制度",
        ],
        served_parties=["企业法人", "个体工商户", "其他组织"],
        legal_time_limit_days=20,
        promised_time_limit_days=10,
        result_name="食品经营许可证",
        materials=[
            _m("F01", "食品经营许可申请书", form="电子"),
            _m("F02", "营业执照复印件", form="复印件", shared="BUSINESS_LICENCE"),
            _m("F03", "与食品经营相适应的主要设备设施布局、操作流程等文件", deferrable=True),
            _m("F04", "食品安全自查、从业人员健康管理等食品安全管理制度", deferrable=True),
            _m("F05", "法定代表人（负责人）身份证明", form="复印件", shared="LEGAL_REP_ID"),
        ],
        review_criteria=["经营场所布局合理，与有毒有害场所保持规定距离", "设备设施与经营项目相适应"],
        signature_mode="sign_twice",
        departments=["market"],
        form_fields=["credit_code", "business_name", "business_address", "food_categories", "venue_area"],
    ),
    _guide(
        "health-001",
        name="公共场所卫生许可证核发",
        item_type="行政许可",
        legal_basis=["《公共场所卫生管理条例》第八条", "《公共场所卫生管理条例实施细则》第二十二条"],
        implementing_body="各区卫生健康委员会",
        acceptance_conditions=["已取得营业执照", "经营场所符合公共场所卫生标准和要求"],
        served_parties=["企业法人", "个体工商户"],
        legal_time_limit_days=20,
        promised_time_limit_days=5,
        result_name="公共场所卫生许可证",
        materials=[
            _m("H01", "公共场所卫生许可申请表", form="电子"),
            _m("H02", "法定代表人或负责人身份证明", form="复印件", shared="LEGAL_REP_ID"),
            _m("H03", "公共场所地址方位示意图、平面图和卫生设施平面布局图"),
            _m("H04", "公共场所卫生检测或评价报告", deferrable=True),
        ],
        review_criteria=["卫生设施设置符合卫生标准", "检测或评价报告结论为合格"],
        signature_mode="sign_twice",
        departments=["health"],
        form_fields=["credit_code", "business_name", "business_address", "venue_area"],
    ),
    _guide(
        "health-002",
        name="医疗机构设置审批",
        item_type="行政许可",
        legal_basis=["《医疗机构管理条例》第九条", "《医疗机构管理条例实施细则》第十四条"],
        implementing_body="北京市卫生健康委员会、各区卫生健康委员会",
        acceptance_conditions=["符合本市医疗机构设置规划", "申请人具有相应的设置资格"],
        served_parties=["企业法人", "事业单位法人", "社会组织"],
        legal_time_limit_days=30,
        promised_time_limit_days=20,
        result_name="设置医疗机构批准书",
        materials=[
            _m("Y01", "设置医疗机构申请书", form="电子"),
            _m("Y02", "设置可行性研究报告", copies=2),
            _m("Y03", "选址报告和建筑设计平面图", copies=2),
        ],
        deferral_policy="本事项涉及公共安全和人民群众生命健康，不适用容缺受理",
        review_criteria=[
            "符合区域卫生规划和医疗机构设置规划",
            "选址和建筑设计符合卫生学要求",
            "经集体讨论通过",
        ],
        signature_mode="collective",
        departments=["health"],
    ),
    _guide(
        "hpf-001",
        name="住房公积金提取（购买自住住房）",
        item_type="公共服务",
        legal_basis=["《住房公积金管理条例》第二十四条", "《北京住房公积金提取管理办法》"],
        implementing_body="北京住房公积金管理中心及各管理部",
        acceptance_conditions=["在本市正常缴存住房公积金", "购买本市或户籍所在地自住住房"],
        served_parties=["自然人"],
        legal_time_limit_days=3,
        promised_time_limit_days=1,
        result_name="住房公积金提取到账通知",
        materials=[
            _m("G01", "住房公积金提取申请书", form="电子"),
            _m("G02", "购房合同或不动产权证书", form="复印件"),
            _m("G03", "购房发票", required=False, form="复印件"),
        ],
        review_criteria=["购房信息与不动产登记信息一致", "提取金额不超过购房支出"],
        courier_delivery={"available": False, "note": "提取款项直接划入本人银行账户，无需寄递"},
        signature_mode="sign_once",
        departments=["hpf"],
    ),
    _guide(
        "tax-001",
        name="税务登记信息确认（新办纳税人套餐）",
        item_type="行政确认",
        legal_basis=["《中华人民共和国税收征收管理法》第十五条", "《税务登记管理办法》"],
        implementing_body="国家税务总局北京市各区税务局",
        acceptance_conditions=["已领取营业执照的新办纳税人"],
        served_parties=["企业法人", "个体工商户", "其他组织"],
        legal_time_limit_days=5,
        promised_time_limit_days=1,
        result_name="税务登记信息确认结果（含税费种认定）",
        materials=[
            _m("T01", "营业执照", form="电子", shared="BUSINESS_LICENCE"),
            _m("T02", "法定代表人身份证件", form="复印件", shared="LEGAL_REP_ID"),
            _m("T03", "银行开户信息", required=False, form="电子"),
        ],
        review_criteria=["登记信息与市场监管部门共享信息一致"],
        signature_mode="sign_once",
        departments=["tax"],
        form_fields=["credit_code", "business_name", "operator_name", "bank_name"],
    ),
    _guide(
        "hrss-001",
        name="单位社会保险登记",
        item_type="行政确认",
        legal_basis=["《中华人民共和国社会保险法》第五十七条", "《社会保险费征缴暂行条例》第七条"],
        implementing_body="北京市各区社会保险经办机构",
        acceptance_conditions=["自成立之日起三十日内，已取得营业执照或登记证书的用人单位"],
        served_parties=["企业法人", "事业单位法人", "社会组织"],
        legal_time_limit_days=15,
        promised_time_limit_days=3,
        result_name="社会保险登记证明",
        materials=[
            _m("S01", "社会保险登记表", form="电子"),
            _m("S02", "营业执照", form="复印件", shared="BUSINESS_LICENCE"),
        ],
        review_criteria=["单位信息与登记机关共享信息一致"],
        signature_mode="sign_once",
        departments=["hrss"],
        form_fields=["credit_code", "business_name", "employee_count"],
    ),
    _guide(
        "culture-001",
        name="娱乐场所从事娱乐场所经营活动审批",
        item_type="行政许可",
        legal_basis=["《娱乐场所管理条例》第九条", "《娱乐场所管理办法》"],
        implementing_body="各区文化和旅游局（会同公安机关）",
        acceptance_conditions=[
            "已取得营业执照",
            "场所符合消防安全和治安管理要求",
            "投资人及负责人无禁止情形",
        ],
        served_parties=["企业法人", "个体工商户"],
        legal_time_limit_days=20,
        promised_time_limit_days=15,
        result_name="娱乐经营许可证",
        materials=[
            _m("C01", "娱乐场所经营活动申请书", form="电子"),
            _m("C02", "投资人、法定代表人、主要负责人的有效身份证件", form="复印件", shared="LEGAL_REP_ID"),
            _m("C03", "娱乐场所消防安全检查合格证明"),
            _m("C04", "营业场所平面图", required=False),
        ],
        review_criteria=["场所面积、设施符合娱乐场所标准", "公安机关治安审查合格"],
        signature_mode="sign_twice",
        departments=["culture", "police"],
        form_fields=["credit_code", "business_name", "business_address", "venue_area", "venue_capacity"],
    ),
    _guide(
        "police-002",
        name="印章刻制备案",
        item_type="其他行政权力",
        legal_basis=[
            "《印铸刻字业暨旅馆业治安管理办法》",
            "《国务院关于第六批取消和调整行政审批项目的决定》",
        ],
        implementing_body="北京市公安局各公安分局治安管理部门",
        acceptance_conditions=["已依法取得营业执照的市场主体", "委托经公安机关备案的印章刻制企业刻制"],
        served_parties=["企业法人", "个体工商户"],
        legal_time_limit_days=3,
        promised_time_limit_days=1,
        result_name="印章刻制备案回执",
        fee_basis="公安机关备案不收费；印章刻制费用由刻制企业按市场价收取",
        materials=[
            _m("K01", "印章刻制申请表", form="电子"),
            _m("K02", "营业执照", form="复印件", shared="BUSINESS_LICENCE"),
            _m("K03", "法定代表人（经营者）身份证明", form="复印件", shared="LEGAL_REP_ID"),
        ],
        review_criteria=["申请主体已取得营业执照", "印章种类与名称符合规定"],
        signature_mode="sign_once",
        departments=["police"],
        form_fields=["credit_code", "business_name", "operator_name", "seal_types"],
    ),
    _guide(
        "police-001",
        name="居民身份证换领",
        item_type="公共服务",
        legal_basis=["《中华人民共和国居民身份证法》第十一条"],
        implementing_body="北京市公安局各公安分局户政部门",
        acceptance_conditions=["本市户籍居民，居民身份证有效期满或登记项目变更、严重损坏不能辨认"],
        served_parties=["自然人"],
        legal_time_limit_days=60,
        promised_time_limit_days=15,
        result_name="中华人民共和国居民身份证",
        fee_standard="换领居民身份证每证20元",
        fee_basis="《国家发展改革委 财政部关于居民身份证收费标准及有关问题的通知》（发改价格〔2003〕2322号）",
        online_payment={"available": True, "note": "可通过“北京通”App或窗口扫码支付工本费"},
        materials=[
            _m("P01", "原居民身份证"),
            _m("P02", "符合标准的数码相片回执", form="电子", note="可在窗口现场采集"),
            _m("P03", "户口簿", required=False, note="登记项目变更时提供"),
        ],
        deferral_policy="居民身份证须本人到场核验，不适用容缺受理",
        review_criteria=["本人到场核验身份信息", "采集的指纹信息与登记信息一致"],
        signature_mode="sign_once",
        departments=["police"],
    ),
    _guide(
        "tax-002",
        name="增值税专用发票（增值税税控系统）最高开票限额审批",
        item_type="行政许可",
        legal_basis=["《国务院对确需保留的行政审批项目设定行政许可的决定》第236项"],
        implementing_body="国家税务总局北京市各区税务局",
        acceptance_conditions=["已办理税务登记的增值税一般纳税人或小规模纳税人", "有实际经营需要"],
        served_parties=["企业法人", "个体工商户"],
        legal_time_limit_days=20,
        promised_time_limit_days=10,
        result_name="准予税务行政许可决定书",
        materials=[
            _m("X01", "税务行政许可申请表", form="电子"),
            _m("X02", "经办人身份证件", form="复印件"),
            _m("X03", "近期经营情况说明", deferrable=True),
        ],
        review_criteria=["申请限额与实际经营规模相适应", "纳税信用状况良好"],
        signature_mode="sign_once",
        departments=["tax"],
    ),
    _guide(
        "hrss-002",
        name="经营性人力资源服务机构从事职业中介活动许可",
        item_type="行政许可",
        legal_basis=["《人力资源市场暂行条例》第十八条", "《中华人民共和国就业促进法》第四十条"],
        implementing_body="各区人力资源和社会保障局",
        acceptance_conditions=["有明确的章程和管理制度", "有开展业务必备的固定场所", "有3名以上专职工作人员"],
        served_parties=["企业法人"],
        legal_time_limit_days=20,
        promised_time_limit_days=10,
        result_name="人力资源服务许可证",
        materials=[
            _m("R01", "人力资源服务许可申请书", form="电子"),
            _m("R02", "营业执照", form="复印件", shared="BUSINESS_LICENCE"),
            _m("R03", "经营场所使用证明", form="复印件", deferrable=True, shared="PREMISES_PROOF"),
            _m("R04", "专职工作人员名单及相关证明", copies=1),
            _m("R05", "服务管理制度文本"),
        ],
        review_criteria=["场所、人员、制度符合法定条件"],
        signature_mode="sign_twice",
        departments=["hrss"],
        form_fields=["credit_code", "business_name", "business_address", "hr_services"],
    ),
    _guide(
        "hpf-002",
        name="住房公积金单位缴存登记",
        item_type="公共服务",
        legal_basis=["《住房公积金管理条例》第十四条"],
        implementing_body="北京住房公积金管理中心及各管理部",
        acceptance_conditions=["新设立的单位，自设立之日起30日内"],
        served_parties=["企业法人", "事业单位法人", "社会组织"],
        legal_time_limit_days=5,
        promised_time_limit_days=1,
        result_name="住房公积金单位登记信息表",
        materials=[
            _m("U01", "住房公积金单位登记表", form="电子"),
            _m("U02", "营业执照或登记证书", form="复印件", shared="BUSINESS_LICENCE"),
            _m("U03", "经办人授权委托书", deferrable=True),
        ],
        review_criteria=["单位信息与登记机关共享信息一致"],
        signature_mode="sign_once",
        departments=["hpf"],
        form_fields=["credit_code", "business_name", "employee_count", "deposit_ratio"],
    ),
    _guide(
        "culture-002",
        name="营业性演出审批",
        item_type="行政许可",
        legal_basis=["《营业性演出管理条例》第十三条", "《营业性演出管理条例实施细则》"],
        implementing_body="北京市文化和旅游局、各区文化和旅游局（会同公安机关）",
        acceptance_conditions=["举办单位具有营业性演出经营资格", "演出场所合法且已通过安全检查"],
        served_parties=["企业法人"],
        legal_time_limit_days=3,
        promised_time_limit_days=3,
        result_name="营业性演出准予许可决定书",
        materials=[
            _m("V01", "营业性演出申请登记表", form="电子"),
            _m("V02", "演出节目内容材料", form="电子"),
            _m("V03", "演出场所合格证明", form="复印件"),
            _m("V04", "安全保卫工作方案和灭火、应急疏散预案"),
        ],
        review_criteria=["演出内容不含法律法规禁止的内容", "安全保卫方案经公安机关审核"],
        signature_mode="sign_twice",
        departments=["culture", "police"],
    ),
]

SEEDED_BY = "seed"
# Versions the seed may supersede with its own content (never an operator's).
_SEED_OWNED = {SEEDED_BY, "migration-0003"}


def demo_accounts() -> list[dict]:
    accounts = [
        {"username": "applicant1", "role": "applicant", "display_name": "张三"},
        {"username": "applicant2", "role": "applicant", "display_name": "李四"},
        {"username": "clerk1", "role": "clerk", "display_name": "综窗王五", "district": "chaoyang"},
        {"username": "clerk2", "role": "clerk", "display_name": "综窗周八", "district": "haidian"},
        {"username": "supervisor1", "role": "supervisor", "display_name": "督办赵六"},
        {"username": "operator1", "role": "operator", "display_name": "运维孙七"},
    ]
    titles = {"staff": ("department", "审查员"), "handler": ("handler", "经办人")}
    titles["chief"] = ("chief", "首席代表")
    for code, name in DEPARTMENTS.items():
        for suffix, (role, title) in titles.items():
            accounts.append(
                {
                    "username": f"{code}-{suffix}",
                    "role": role,
                    "department": code,
                    "display_name": f"{name}{title}",
                }
            )
    return accounts


async def seed(engine: AsyncEngine) -> None:
    """Idempotent: re-running refreshes reference data and adds missing accounts."""
    async with engine.begin() as conn:
        for code, name in DEPARTMENTS.items():
            stmt = insert(Department).values(code=code, name=name)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["code"], set_={"name": name}))
        names = dict(DEPARTMENTS)
        for item in ITEMS:
            await _seed_guide(conn, item["code"], GuideContent.model_validate(item["content"]), names)
        await _seed_themes(conn)
        existing = set((await conn.execute(select(Account.username))).scalars())
        for account in demo_accounts():
            if account["username"] in existing:
                continue
            row = {"department": None, "district": None, **account}
            await conn.execute(
                insert(Account)
                .values(password_hash=hash_password(DEMO_PASSWORD), **row)
                .on_conflict_do_nothing()
            )


async def _seed_guide(conn: AsyncConnection, code: str, content: GuideContent, names: dict[str, str]) -> None:
    """Publish the seed's guide as a new version unless it is already the newest one; versions
    an operator has published or is drafting are left alone (published ones never change)."""
    problems = guides.validate(code, content, names)
    if problems:
        raise ValueError(f"seed guide {code} is invalid: {[p.message for p in problems]}")
    now = datetime.now(UTC)
    await conn.execute(insert(ServiceItem).values(code=code, created_at=now).on_conflict_do_nothing())
    query = select(GuideVersion).where(GuideVersion.item_code == code).order_by(GuideVersion.version.desc())
    latest = (await conn.execute(query.limit(1))).first()
    digest = guides.content_hash(content)
    if latest is not None:
        if latest.status != GuideStatus.PUBLISHED or latest.published_by not in _SEED_OWNED:
            return
        if latest.content_hash == digest:
            return
    await conn.execute(
        insert(GuideVersion).values(
            item_code=code,
            version=(latest.version + 1) if latest else 1,
            status=GuideStatus.PUBLISHED.value,
            content=content.model_dump(mode="json"),
            content_hash=digest,
            effective_from=now,
            published_at=now,
            published_by=SEEDED_BY,
            created_at=now,
            created_by=SEEDED_BY,
            updated_at=now,
        )
    )


async def _seed_themes(conn: AsyncConnection) -> None:
    """Define the seeded themes; a theme an operator has since redefined is left alone."""
    items = {i["code"]: seed_snapshot(i["code"]) for i in ITEMS}
    now = datetime.now(UTC)
    for code, raw in THEMES.items():
        theme = ThemeDefinition.model_validate(raw)
        problems = themes.validate(theme, items, set(DEPARTMENTS))
        if problems:
            raise ValueError(f"seed theme {code} is invalid: {problems}")
        row = {"code": code, "name": theme.name, "definition": theme.model_dump(mode="json")}
        stmt = insert(Theme).values(**row, updated_at=now, updated_by=SEEDED_BY)
        await conn.execute(
            stmt.on_conflict_do_update(index_elements=["code"], set_=row, where=Theme.updated_by == SEEDED_BY)
        )


def seed_snapshot(code: str, version: int = 1) -> ItemSnapshot:
    """A seeded item as a case would hold it (for tests that start workflows directly)."""
    item = next(i for i in ITEMS if i["code"] == code)
    return guides.snapshot(code, version, GuideContent.model_validate(item["content"]), DEPARTMENTS)
