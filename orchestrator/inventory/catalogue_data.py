"""Vocabulary for the sample catalogue: cities' weights, departments and their systems.

Illustrative, not a register of real systems: the department and system names
are the kinds every Guangdong city runs, so the demo and the benchmarks look like
the real work. City ids must match ``inventory/hosts.yml``; a unit test loads the
generated catalogue against the inventory, so a drift fails at once. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogueCity:
    """A city as the generator needs it: names for labels, a weight for how many systems."""

    id: str
    name: str
    name_zh: str
    weight: int


@dataclass(frozen=True)
class Department:
    """A municipal department and the kinds of system it runs (English, Chinese)."""

    code: str
    name: str
    name_zh: str
    weight: int
    # Added to the criticality draw: public security and health outages hurt most.
    gravity: int
    systems: tuple[tuple[str, str], ...]

    @property
    def label(self) -> str:
        """The ``department`` field: ``Public Security Bureau (公安局)``."""
        return f"{self.name} ({self.name_zh})"


# Node cities weigh roughly with their node's size; PRD cities have their own clouds,
# so only a few of their systems are in the catalogue.
CITIES = (
    CatalogueCity("shantou", "Shantou", "汕头市", 20),
    CatalogueCity("shaoguan", "Shaoguan", "韶关市", 13),
    CatalogueCity("heyuan", "Heyuan", "河源市", 11),
    CatalogueCity("meizhou", "Meizhou", "梅州市", 13),
    CatalogueCity("huizhou", "Huizhou", "惠州市", 22),
    CatalogueCity("shanwei", "Shanwei", "汕尾市", 10),
    CatalogueCity("yangjiang", "Yangjiang", "阳江市", 11),
    CatalogueCity("zhanjiang", "Zhanjiang", "湛江市", 20),
    CatalogueCity("maoming", "Maoming", "茂名市", 16),
    CatalogueCity("zhaoqing", "Zhaoqing", "肇庆市", 15),
    CatalogueCity("qingyuan", "Qingyuan", "清远市", 14),
    CatalogueCity("chaozhou", "Chaozhou", "潮州市", 10),
    CatalogueCity("jieyang", "Jieyang", "揭阳市", 15),
    CatalogueCity("yunfu", "Yunfu", "云浮市", 10),
    CatalogueCity("guangzhou", "Guangzhou", "广州市", 4),
    CatalogueCity("shenzhen", "Shenzhen", "深圳市", 4),
    CatalogueCity("zhuhai", "Zhuhai", "珠海市", 2),
    CatalogueCity("foshan", "Foshan", "佛山市", 3),
    CatalogueCity("dongguan", "Dongguan", "东莞市", 3),
    CatalogueCity("zhongshan", "Zhongshan", "中山市", 2),
    CatalogueCity("jiangmen", "Jiangmen", "江门市", 2),
)

# Where systems hosted outside their own city run today.
PROVINCIAL_SOURCE_CITY = "guangzhou"
PROVINCIAL_SITE = "Guangdong provincial e-government data centre (广东省电子政务数据中心)"

# fmt: off
DEPARTMENTS = (
    Department("psb", "Public Security Bureau", "公安局",
               weight=12, gravity=2, systems=(
        ("Household Registration Management System", "户籍管理系统"),
        ("Resident ID Card Service Platform", "居民身份证业务平台"),
        ("Traffic Police Integrated Platform", "交警综合应用平台"),
        ("Entry-Exit Administration System", "出入境管理系统"),
        ("Video Surveillance Sharing Platform", "视频监控共享平台"),
        ("Case Handling System", "执法办案系统"),
        ("Public Security Big Data Platform", "公安大数据平台"),
    )),
    Department("hrss", "Human Resources and Social Security Bureau", "人力资源和社会保障局",
               weight=10, gravity=1, systems=(
        ("Social Insurance Management Information System", "社会保险管理信息系统"),
        ("Employment Service Platform", "就业服务平台"),
        ("Labour Dispute Arbitration System", "劳动人事争议仲裁系统"),
        ("Social Security Card Service System", "社会保障卡服务系统"),
        ("Vocational Skills Training Platform", "职业技能培训平台"),
        ("Personnel Examination System", "人事考试系统"),
    )),
    Department("hsa", "Healthcare Security Administration", "医疗保障局",
               weight=8, gravity=2, systems=(
        ("Medical Insurance Settlement System", "医保结算系统"),
        ("Medical Insurance Fund Supervision Platform", "医保基金监管平台"),
        ("Cross-Region Medical Billing System", "异地就医结算系统"),
        ("Drug Procurement Platform", "药品集中采购平台"),
    )),
    Department("hc", "Health Commission", "卫生健康局",
               weight=9, gravity=2, systems=(
        ("Regional Health Information Platform", "区域全民健康信息平台"),
        ("Electronic Health Record System", "电子健康档案系统"),
        ("Disease Control Reporting System", "疾病预防控制报告系统"),
        ("Maternal and Child Health System", "妇幼保健信息系统"),
        ("Emergency Medical Dispatch System", "院前急救调度系统"),
        ("Vaccination Management System", "预防接种管理系统"),
    )),
    Department("edu", "Education Bureau", "教育局",
               weight=8, gravity=0, systems=(
        ("Student Enrolment Platform", "招生入学平台"),
        ("Student Records Management System", "学籍管理系统"),
        ("Teacher Management System", "教师管理信息系统"),
        ("Education Resource Public Service Platform", "教育资源公共服务平台"),
        ("School Safety Management Platform", "校园安全管理平台"),
    )),
    Department("amr", "Administration for Market Regulation", "市场监督管理局",
               weight=8, gravity=1, systems=(
        ("Business Registration System", "商事登记系统"),
        ("Food Safety Traceability Platform", "食品安全追溯平台"),
        ("Enterprise Credit Information System", "企业信用信息公示系统"),
        ("Special Equipment Safety Supervision System", "特种设备安全监管系统"),
        ("12315 Complaints and Reports Platform", "12315投诉举报平台"),
    )),
    Department("tax", "Tax Service", "税务局",
               weight=6, gravity=1, systems=(
        ("Electronic Tax Filing System", "电子税务局系统"),
        ("Invoice Management System", "发票管理系统"),
        ("Tax Risk Analysis Platform", "税收风险分析平台"),
        ("Social Insurance Contribution Collection System", "社保费征收系统"),
    )),
    Department("nr", "Natural Resources Bureau", "自然资源局",
               weight=6, gravity=0, systems=(
        ("Real Estate Registration System", "不动产登记系统"),
        ("Territorial Spatial Planning Platform", "国土空间规划一张图平台"),
        ("Land Use Approval System", "用地审批系统"),
        ("Geographic Information Public Service Platform", "地理信息公共服务平台"),
        ("Mineral Resources Management System", "矿产资源管理系统"),
    )),
    Department("hurd", "Housing and Urban-Rural Development Bureau", "住房和城乡建设局",
               weight=6, gravity=0, systems=(
        ("Construction Permit Approval System", "工程建设项目审批系统"),
        ("Housing Provident Fund System", "住房公积金管理系统"),
        ("Commercial Housing Presale System", "商品房预售管理系统"),
        ("Construction Site Monitoring Platform", "建筑工地监管平台"),
        ("Public Rental Housing System", "公共租赁住房管理系统"),
    )),
    Department("trans", "Transport Bureau", "交通运输局",
               weight=6, gravity=1, systems=(
        ("Road Transport Management System", "道路运输管理系统"),
        ("Public Transit Monitoring Platform", "公交智能调度监控平台"),
        ("Taxi and Ride-Hailing Supervision Platform", "出租车网约车监管平台"),
        ("Highway Maintenance Management System", "公路养护管理系统"),
    )),
    Department("gsdb", "Government Services and Data Administration", "政务服务数据管理局",
               weight=9, gravity=2, systems=(
        ("Government Services Portal", "政务服务网"),
        ("Unified Identity Authentication Platform", "统一身份认证平台"),
        ("Data Sharing and Exchange Platform", "政务数据共享交换平台"),
        ("12345 Government Service Hotline System", "12345政务服务便民热线系统"),
        ("Electronic Licence Library", "电子证照库"),
        ("Administrative Approval System", "行政审批系统"),
        ("Government Big Data Centre Platform", "政务大数据中心平台"),
    )),
    Department("mca", "Civil Affairs Bureau", "民政局",
               weight=5, gravity=0, systems=(
        ("Marriage Registration System", "婚姻登记管理系统"),
        ("Minimum Living Allowance System", "最低生活保障管理系统"),
        ("Elderly Care Service Platform", "养老服务平台"),
        ("Social Organisation Management System", "社会组织管理系统"),
    )),
    Department("fin", "Finance Bureau", "财政局",
               weight=5, gravity=1, systems=(
        ("Budget Management Integration System", "预算管理一体化系统"),
        ("Treasury Centralised Payment System", "国库集中支付系统"),
        ("Non-Tax Revenue Collection System", "非税收入收缴系统"),
        ("Government Procurement Platform", "政府采购平台"),
    )),
    Department("eeb", "Ecology and Environment Bureau", "生态环境局",
               weight=4, gravity=0, systems=(
        ("Pollution Source Online Monitoring System", "污染源在线监控系统"),
        ("Environmental Impact Assessment System", "环境影响评价审批系统"),
        ("Air Quality Monitoring Platform", "空气质量监测平台"),
    )),
    Department("agri", "Agriculture and Rural Affairs Bureau", "农业农村局",
               weight=3, gravity=0, systems=(
        ("Agricultural Product Quality Traceability System", "农产品质量安全追溯系统"),
        ("Rural Land Contract Management System", "农村土地承包经营权管理系统"),
        ("Animal Epidemic Prevention System", "动物防疫管理系统"),
    )),
    Department("water", "Water Resources Bureau", "水务局",
               weight=3, gravity=1, systems=(
        ("Flood Control and Drought Relief System", "防汛抗旱指挥系统"),
        ("River Chief Management Platform", "河长制管理平台"),
        ("Water Resources Monitoring System", "水资源监测系统"),
    )),
    Department("mem", "Emergency Management Bureau", "应急管理局",
               weight=4, gravity=2, systems=(
        ("Emergency Command Platform", "应急指挥平台"),
        ("Work Safety Supervision System", "安全生产监管系统"),
        ("Hazardous Chemicals Monitoring System", "危险化学品监测预警系统"),
    )),
    Department("just", "Justice Bureau", "司法局",
               weight=3, gravity=0, systems=(
        ("Public Legal Service Platform", "公共法律服务平台"),
        ("Community Correction Management System", "社区矫正管理系统"),
        ("People's Mediation System", "人民调解管理系统"),
    )),
    Department("cult", "Culture, Radio, Television, Tourism and Sports Bureau",
               "文化广电旅游体育局", weight=3, gravity=0, systems=(
        ("Smart Tourism Platform", "智慧旅游平台"),
        ("Public Library Service System", "公共图书馆服务系统"),
        ("Cultural Market Supervision System", "文化市场监管系统"),
    )),
    Department("stats", "Statistics Bureau", "统计局",
               weight=2, gravity=0, systems=(
        ("Statistical Data Collection Platform", "统计联网直报平台"),
        ("Economic Census System", "经济普查系统"),
    )),
    Department("drc", "Development and Reform Bureau", "发展和改革局",
               weight=3, gravity=0, systems=(
        ("Investment Project Online Approval Platform", "投资项目在线审批监管平台"),
        ("Public Credit Information Platform", "公共信用信息平台"),
        ("Price Monitoring System", "价格监测系统"),
    )),
)
# fmt: on
