"""Demo data: departments, catalogue items and one account per role (dev only, password `demo`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from core.models import Account, Department, ServiceItem
from core.security import hash_password

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


def _m(code: str, name: str, required: bool = True) -> dict:
    return {"code": code, "name": name, "required": required}


ITEMS: list[dict] = [
    {
        "code": "market-001",
        "name": "个体工商户设立登记",
        "departments": ["market"],
        "signature_mode": "sign_once",
        "legal_time_limit_days": 15,
        "promised_time_limit_days": 1,
        "materials": [
            _m("M01", "个体工商户登记（备案）申请书"),
            _m("M02", "经营者身份证明"),
            _m("M03", "经营场所使用证明"),
            _m("M04", "委托代理人身份证明及委托书", required=False),
        ],
    },
    {
        "code": "market-002",
        "name": "食品经营许可证核发",
        "departments": ["market"],
        "signature_mode": "sign_twice",
        "legal_time_limit_days": 20,
        "promised_time_limit_days": 10,
        "materials": [
            _m("F01", "食品经营许可申请书"),
            _m("F02", "营业执照复印件"),
            _m("F03", "与食品经营相适应的主要设备设施布局、操作流程等文件"),
            _m("F04", "食品安全自查、从业人员健康管理等食品安全管理制度"),
            _m("F05", "法定代表人（负责人）身份证明"),
        ],
    },
    {
        "code": "health-001",
        "name": "公共场所卫生许可证核发",
        "departments": ["health"],
        "signature_mode": "sign_twice",
        "legal_time_limit_days": 20,
        "promised_time_limit_days": 5,
        "materials": [
            _m("H01", "公共场所卫生许可申请表"),
            _m("H02", "法定代表人或负责人身份证明"),
            _m("H03", "公共场所地址方位示意图、平面图和卫生设施平面布局图"),
            _m("H04", "公共场所卫生检测或评价报告"),
        ],
    },
    {
        "code": "health-002",
        "name": "医疗机构设置审批",
        "departments": ["health"],
        "signature_mode": "collective",
        "legal_time_limit_days": 30,
        "promised_time_limit_days": 20,
        "materials": [
            _m("Y01", "设置医疗机构申请书"),
            _m("Y02", "设置可行性研究报告"),
            _m("Y03", "选址报告和建筑设计平面图"),
        ],
    },
    {
        "code": "hpf-001",
        "name": "住房公积金提取（购买自住住房）",
        "departments": ["hpf"],
        "signature_mode": "sign_once",
        "legal_time_limit_days": 3,
        "promised_time_limit_days": 1,
        "materials": [
            _m("G01", "住房公积金提取申请书"),
            _m("G02", "购房合同或不动产权证书"),
            _m("G03", "购房发票", required=False),
        ],
    },
    {
        "code": "tax-001",
        "name": "税务登记信息确认（新办纳税人套餐）",
        "departments": ["tax"],
        "signature_mode": "sign_once",
        "legal_time_limit_days": 5,
        "promised_time_limit_days": 1,
        "materials": [
            _m("T01", "营业执照"),
            _m("T02", "法定代表人身份证件"),
            _m("T03", "银行开户信息", required=False),
        ],
    },
    {
        "code": "hrss-001",
        "name": "单位社会保险登记",
        "departments": ["hrss"],
        "signature_mode": "sign_once",
        "legal_time_limit_days": 15,
        "promised_time_limit_days": 3,
        "materials": [
            _m("S01", "社会保险登记表"),
            _m("S02", "营业执照"),
        ],
    },
    {
        "code": "culture-001",
        "name": "娱乐场所从事娱乐场所经营活动审批",
        "departments": ["culture", "police"],
        "signature_mode": "sign_twice",
        "legal_time_limit_days": 20,
        "promised_time_limit_days": 15,
        "materials": [
            _m("C01", "娱乐场所经营活动申请书"),
            _m("C02", "投资人、法定代表人、主要负责人的有效身份证件"),
            _m("C03", "娱乐场所消防安全检查合格证明"),
            _m("C04", "营业场所平面图", required=False),
        ],
    },
]


def demo_accounts() -> list[dict]:
    accounts = [
        {"username": "applicant1", "role": "applicant", "display_name": "张三"},
        {"username": "applicant2", "role": "applicant", "display_name": "李四"},
        {"username": "clerk1", "role": "clerk", "display_name": "综窗王五", "district": "chaoyang"},
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
        for item in ITEMS:
            stmt = insert(ServiceItem).values(version=1, **item)
            update = {k: v for k, v in item.items() if k != "code"}
            await conn.execute(stmt.on_conflict_do_update(index_elements=["code"], set_=update))
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
