"""The Korean separate-collection scheme (분리배출) that every classification names.

Each category carries its Korean label and the default disposal steps shown when the model's
answer gives none (and by ``image.classify``, which asks the model for the category only).
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    PAPER = "paper"
    PAPER_PACK = "paper_pack"
    CLEAR_PET = "clear_pet"
    PLASTIC = "plastic"
    VINYL = "vinyl"
    STYROFOAM = "styrofoam"
    GLASS = "glass"
    METAL = "metal"
    TEXTILE = "textile"
    BATTERY = "battery"
    LIGHTING = "lighting"
    ELECTRONICS = "electronics"
    GENERAL = "general"
    FOOD = "food"
    BULKY = "bulky"
    HAZARDOUS = "hazardous"


LABELS_KO: dict[Category, str] = {
    Category.PAPER: "종이류",
    Category.PAPER_PACK: "종이팩",
    Category.CLEAR_PET: "투명 페트병",
    Category.PLASTIC: "플라스틱류",
    Category.VINYL: "비닐류",
    Category.STYROFOAM: "스티로폼",
    Category.GLASS: "유리병",
    Category.METAL: "캔·고철류",
    Category.TEXTILE: "의류·섬유",
    Category.BATTERY: "폐건전지",
    Category.LIGHTING: "폐형광등·조명",
    Category.ELECTRONICS: "폐가전·소형가전",
    Category.GENERAL: "일반쓰레기(종량제봉투)",
    Category.FOOD: "음식물쓰레기",
    Category.BULKY: "대형폐기물",
    Category.HAZARDOUS: "유해폐기물",
}

DEFAULT_STEPS: dict[Category, tuple[str, ...]] = {
    Category.PAPER: (
        "테이프, 스테이플러 심 등 이물질을 제거합니다.",
        "물기에 젖지 않게 펴서 묶어 배출합니다.",
    ),
    Category.PAPER_PACK: (
        "내용물을 비우고 물로 헹굽니다.",
        "펼쳐서 말린 뒤 일반 종이와 분리해 종이팩 수거함에 배출합니다.",
    ),
    Category.CLEAR_PET: (
        "내용물을 비우고 헹굽니다.",
        "라벨을 떼고 찌그러뜨린 뒤 뚜껑을 닫아 투명 페트병 전용 수거함에 배출합니다.",
    ),
    Category.PLASTIC: (
        "내용물을 비우고 헹굽니다.",
        "다른 재질의 부속품을 제거하고 플라스틱류로 배출합니다.",
    ),
    Category.VINYL: (
        "내용물을 비우고 이물질을 헹굽니다.",
        "흩날리지 않도록 봉투에 모아 비닐류로 배출합니다.",
    ),
    Category.STYROFOAM: (
        "테이프, 운송장 등 이물질을 제거합니다.",
        "오염된 스티로폼은 종량제봉투로, 깨끗한 것은 스티로폼으로 배출합니다.",
    ),
    Category.GLASS: (
        "뚜껑을 분리하고 내용물을 비웁니다.",
        "깨지지 않게 유리병 수거함에 배출합니다.",
        "깨진 유리는 신문지에 싸서 종량제봉투로 배출합니다.",
    ),
    Category.METAL: (
        "내용물을 비우고 헹굽니다.",
        "부탄가스·스프레이 캔은 구멍을 뚫어 가스를 뺀 뒤 캔류로 배출합니다.",
    ),
    Category.TEXTILE: (
        "깨끗한 의류는 의류수거함에 배출합니다.",
        "오염된 섬유는 종량제봉투로 배출합니다.",
    ),
    Category.BATTERY: ("전극에 테이프를 붙입니다.", "폐건전지 전용 수거함에 배출합니다."),
    Category.LIGHTING: ("깨지지 않게 주의합니다.", "폐형광등 전용 수거함에 배출합니다."),
    Category.ELECTRONICS: (
        "소형가전은 소형가전 수거함에 배출합니다.",
        "대형가전은 폐가전 무상방문수거 서비스를 신청합니다.",
    ),
    Category.GENERAL: ("재활용이 어려운 쓰레기는 종량제봉투에 담아 배출합니다.",),
    Category.FOOD: (
        "물기를 최대한 제거합니다.",
        "뼈, 껍데기, 씨앗 등은 일반쓰레기로 분리하고 음식물 전용 용기에 배출합니다.",
    ),
    Category.BULKY: (
        "구청 또는 주민센터에 대형폐기물 배출 신고를 하고 수수료를 납부합니다.",
        "신고필증을 붙여 지정된 장소에 배출합니다.",
    ),
    Category.HAZARDOUS: (
        "일반쓰레기와 섞지 않습니다.",
        "주민센터나 지정 수거함 등 유해폐기물 전용 수거처에 배출합니다.",
    ),
}
