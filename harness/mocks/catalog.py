"""A catalog of waste items the fakes can photograph and recognise again.

Each item carries a *signature colour*. :func:`render` paints a photo-like JPEG whose dominant
colour is that signature (background plus seeded clutter, lighting and sensor noise, all well
under half the picture), and :func:`identify` finds the item back from the dominant colour of any
photo, including the near-duplicates a scenario produces (re-encoded, resized, cropped). The mock
OpenAI server uses this to answer like a model that recognises what it sees, and the harness uses
it as ground truth to tell a right answer served from the cache from a wrong one.

Signature colours sit on a 4x4x4 grid in RGB (steps of 72), so any two are at least 72 apart and a
photo is matched when its dominant colour lies within :data:`MATCH_DISTANCE` of one of them.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageStat, UnidentifiedImageError

from reference.waste.categories import Category

RGB = tuple[int, int, int]
Variant = Literal["identical", "reencoded", "resized", "cropped", "rephotographed"]
VARIANTS: tuple[Variant, ...] = ("identical", "reencoded", "resized", "cropped", "rephotographed")

# Half the grid step (72) would be the largest safe radius; keep a margin below it so a
# photo between two signatures is called unknown rather than guessed.
MATCH_DISTANCE = 30.0
# Every shape's bounding box is at most this share of the picture, and there are at most
# _MAX_SHAPES of them: clutter stays at or under 25 %, and under 40 % after the worst crop (20 %
# off each dimension), so the background always holds the median of every channel.
_SHAPE_MAX_SHARE = 0.05
_MAX_SHAPES = 5
_JPEG_QUALITY = 90
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One kind of waste: what the model calls it, where it goes, and its signature colour."""

    key: str
    name_ko: str
    name_en: str
    category: Category
    steps: tuple[str, ...]
    colour: RGB
    # Items of one family are look-alikes of different categories: the k-th photo of each is
    # the same scene (see harness.app.corpus), only the item's colour differs.
    family: str = ""

    @property
    def scene(self) -> str:
        """The key its photos' scenes are drawn from: the family's, or its own."""
        return self.family or self.key


def _item(key: str, ko: str, en: str, cat: Category, colour: RGB, *steps: str) -> CatalogItem:
    return CatalogItem(key, ko, en, cat, tuple(steps), colour)


def _lookalike(item: CatalogItem, of: str) -> CatalogItem:
    return CatalogItem(
        item.key, item.name_ko, item.name_en, item.category, item.steps, item.colour, family=of
    )


C = Category
# fmt: off
# One item per block: key, Korean name, English name, category, signature colour, steps.
ITEMS: tuple[CatalogItem, ...] = (
    _item("newspaper", "신문지", "newspaper", C.PAPER, (168, 168, 168),
          "비닐 코팅된 전단지는 분리합니다.",
          "물기에 젖지 않게 반듯하게 펴서 묶어 배출합니다."),
    _item("cardboard_box", "택배 상자", "cardboard box", C.PAPER, (168, 96, 24),
          "테이프와 운송장 스티커를 모두 제거합니다.",
          "상자를 접어 납작하게 만든 뒤 종이류로 배출합니다."),
    _item("notebook", "공책", "notebook", C.PAPER, (240, 240, 168),
          "스프링과 비닐 표지를 분리합니다.",
          "속지는 종이류로 배출합니다."),
    _item("milk_carton", "우유팩", "milk carton", C.PAPER_PACK, (240, 240, 240),
          "내용물을 비우고 물로 헹굽니다.",
          "펼쳐서 말린 뒤 종이팩 전용 수거함에 배출합니다."),
    _item("soy_milk_pack", "두유 멸균팩", "soy milk carton", C.PAPER_PACK, (240, 168, 96),
          "빨대와 비닐을 제거하고 헹굽니다.",
          "펼쳐서 말린 뒤 종이팩 전용 수거함에 배출합니다."),
    _lookalike(_item("paper_cup", "종이컵", "paper cup", C.GENERAL, (96, 240, 96),
          "음료와 얼음을 비웁니다.",
          "코팅된 종이컵은 종이팩 수거함이 없으면 종량제봉투에 배출합니다."), "soy_milk_pack"),
    _item("water_bottle", "생수 페트병", "water bottle", C.CLEAR_PET, (168, 240, 240),
          "내용물을 비우고 라벨을 뗍니다.",
          "찌그러뜨린 뒤 뚜껑을 닫아 투명 페트병 수거함에 배출합니다."),
    _lookalike(_item("green_pet_bottle", "유색 페트병", "green PET bottle", C.PLASTIC,
          (168, 240, 96),
          "내용물을 비우고 라벨을 뗍니다.",
          "유색 페트병은 투명 페트병이 아니라 플라스틱류로 배출합니다."), "water_bottle"),
    _item("soda_bottle", "투명 탄산음료 페트병", "clear soda bottle", C.CLEAR_PET, (96, 240, 168),
          "내용물을 비우고 헹군 뒤 라벨을 뗍니다.",
          "찌그러뜨린 뒤 뚜껑을 닫아 투명 페트병 수거함에 배출합니다."),
    _item("shampoo_bottle", "샴푸 용기", "shampoo bottle", C.PLASTIC, (240, 96, 168),
          "펌프를 분리하고 내용물을 헹굽니다.",
          "펌프는 일반쓰레기로, 용기는 플라스틱류로 배출합니다."),
    _item("delivery_container", "배달 음식 용기", "takeout container", C.PLASTIC, (24, 24, 24),
          "남은 음식물을 비우고 기름기를 씻어냅니다.",
          "씻어도 오염이 남으면 종량제봉투로, 깨끗하면 플라스틱류로 배출합니다."),
    _item("yogurt_bottle", "요구르트 병", "yogurt bottle", C.PLASTIC, (240, 168, 168),
          "알루미늄 뚜껑을 떼어 냅니다.",
          "내용물을 헹군 뒤 플라스틱류로 배출합니다."),
    _item("snack_bag", "과자 봉지", "snack bag", C.VINYL, (240, 24, 24),
          "부스러기를 털어 냅니다.",
          "접거나 묶지 말고 비닐류로 배출합니다."),
    _item("plastic_bag", "비닐 봉투", "plastic bag", C.VINYL, (168, 240, 168),
          "이물질을 털고 물기를 말립니다.",
          "여러 장을 한 봉투에 모아 비닐류로 배출합니다."),
    _item("ramen_wrapper", "라면 봉지", "instant noodle wrapper", C.VINYL, (168, 24, 24),
          "스프 가루를 털어 냅니다.",
          "비닐류로 배출합니다."),
    _item("foam_packing", "스티로폼 완충재", "foam packing", C.STYROFOAM, (168, 168, 240),
          "테이프와 스티커를 제거합니다.",
          "부피를 줄이지 말고 스티로폼으로 배출합니다."),
    _item("foam_fruit_box", "스티로폼 과일 상자", "foam fruit box", C.STYROFOAM, (240, 168, 240),
          "운송장과 테이프를 제거합니다.",
          "오염된 부분은 잘라 종량제봉투로, 나머지는 스티로폼으로 배출합니다."),
    _item("soju_bottle", "소주병", "soju bottle", C.GLASS, (24, 168, 24),
          "뚜껑을 분리하고 내용물을 비웁니다.",
          "빈용기보증금 대상이므로 소매점에 반환하거나 유리병 수거함에 배출합니다."),
    _item("beer_bottle", "맥주병", "beer bottle", C.GLASS, (96, 24, 24),
          "뚜껑을 분리하고 내용물을 비웁니다.",
          "빈용기보증금 대상이므로 소매점에 반환하거나 유리병 수거함에 배출합니다."),
    _item("jam_jar", "유리 잼병", "glass jam jar", C.GLASS, (240, 96, 24),
          "금속 뚜껑은 캔류로 분리합니다.",
          "병을 헹군 뒤 유리병 수거함에 배출합니다."),
    _lookalike(_item("plastic_jar", "플라스틱 잼 용기", "plastic jam jar", C.PLASTIC,
          (168, 96, 240),
          "내용물을 긁어 내고 헹굽니다.",
          "뚜껑과 함께 플라스틱류로 배출합니다."), "jam_jar"),
    _item("beverage_can", "알루미늄 음료 캔", "aluminium drink can", C.METAL, (96, 96, 168),
          "내용물을 비우고 헹굽니다.",
          "가능하면 찌그러뜨려 캔류로 배출합니다."),
    _item("tuna_can", "참치 캔", "tuna can", C.METAL, (168, 168, 96),
          "기름을 닦아 내고 헹굽니다.",
          "날카로운 뚜껑은 안쪽으로 접어 캔류로 배출합니다."),
    _item("butane_canister", "부탄가스 캔", "butane canister", C.METAL, (24, 96, 240),
          "화기가 없는 곳에서 남은 가스를 모두 뺍니다.",
          "구멍을 뚫은 뒤 캔류로 배출합니다."),
    _item("tshirt", "헌 티셔츠", "old t-shirt", C.TEXTILE, (96, 168, 96),
          "세탁해서 말립니다.",
          "의류수거함에 배출하고, 오염이 심하면 종량제봉투로 배출합니다."),
    _item("jeans", "청바지", "jeans", C.TEXTILE, (24, 24, 168),
          "주머니 속 물건을 비웁니다.",
          "의류수거함에 배출합니다."),
    _item("aa_battery", "AA 건전지", "AA battery", C.BATTERY, (240, 240, 96),
          "양극과 음극에 절연 테이프를 붙입니다.",
          "폐건전지 전용 수거함에 배출합니다."),
    _item("power_bank", "보조배터리", "power bank", C.BATTERY, (96, 24, 96),
          "단자를 절연 테이프로 감싸 합선을 막습니다.",
          "부풀었거나 파손된 것은 주민센터에 문의하고, 그 밖에는 폐건전지 수거함에 배출합니다."),
    _item("fluorescent_tube", "형광등", "fluorescent tube", C.LIGHTING, (240, 240, 24),
          "깨지지 않게 원래 포장이나 신문지로 감쌉니다.",
          "폐형광등 전용 수거함에 배출합니다."),
    _item("led_bulb", "LED 전구", "LED bulb", C.LIGHTING, (96, 240, 240),
          "깨지지 않게 주의합니다.",
          "폐조명 수거함에 배출하고, 없으면 주민센터에 문의합니다."),
    _item("hair_dryer", "헤어드라이어", "hair dryer", C.ELECTRONICS, (240, 24, 168),
          "전선을 묶어 정리합니다.",
          "소형가전 수거함에 배출합니다."),
    _item("mobile_phone", "휴대폰", "mobile phone", C.ELECTRONICS, (96, 96, 96),
          "개인정보를 초기화하고 유심을 뺍니다.",
          "주민센터의 폐휴대폰 수거함이나 소형가전 수거함에 배출합니다."),
    _item("rice_cooker", "전기밥솥", "rice cooker", C.ELECTRONICS, (168, 96, 96),
          "내솥의 음식물을 비웁니다.",
          "소형가전 수거함에 배출하거나 폐가전 무상방문수거를 신청합니다."),
    _item("toothbrush", "칫솔", "toothbrush", C.GENERAL, (24, 168, 240),
          "여러 재질이 섞여 재활용이 어렵습니다.",
          "종량제봉투에 담아 배출합니다."),
    _item("receipt", "영수증", "thermal paper receipt", C.GENERAL, (24, 96, 96),
          "감열지는 종이류로 재활용되지 않습니다.",
          "종량제봉투에 담아 배출합니다."),
    _item("disposable_mask", "일회용 마스크", "disposable face mask", C.GENERAL, (96, 168, 240),
          "끈을 잘라 내고 오염면이 안쪽으로 가게 접습니다.",
          "종량제봉투에 담아 배출합니다."),
    _item("apple_peel", "사과 껍질", "apple peel", C.FOOD, (240, 96, 96),
          "물기를 최대한 뺍니다.",
          "음식물 전용 용기에 배출합니다."),
    _item("leftover_rice", "남은 밥", "leftover rice", C.FOOD, (168, 96, 168),
          "이쑤시개 등 이물질을 골라 냅니다.",
          "물기를 뺀 뒤 음식물 전용 용기에 배출합니다."),
    _item("watermelon_rind", "수박 껍질", "watermelon rind", C.FOOD, (24, 96, 24),
          "잘게 잘라 물기를 뺍니다.",
          "음식물 전용 용기에 배출합니다."),
    _item("mattress", "매트리스", "mattress", C.BULKY, (96, 96, 240),
          "구청 누리집에서 대형폐기물 배출 신고를 하고 수수료를 냅니다.",
          "신고필증을 붙여 지정된 날짜와 장소에 내놓습니다."),
    _item("wooden_chair", "나무 의자", "wooden chair", C.BULKY, (96, 168, 24),
          "대형폐기물 배출 신고를 하고 수수료를 냅니다.",
          "신고필증을 붙여 지정된 장소에 내놓습니다."),
    _item("expired_medicine", "폐의약품", "expired medicine", C.HAZARDOUS, (240, 168, 24),
          "알약은 포장을 벗겨 모으고 물약은 한 병에 모읍니다.",
          "약국이나 보건소, 주민센터의 폐의약품 수거함에 배출합니다."),
    _item("paint_can", "남은 페인트", "leftover paint", C.HAZARDOUS, (24, 168, 168),
          "뚜껑을 꼭 닫아 새지 않게 합니다.",
          "일반쓰레기와 섞지 말고 구청이 지정한 유해폐기물 수거처에 배출합니다."),
    _item("mercury_thermometer", "수은 체온계", "mercury thermometer", C.HAZARDOUS, (168, 24, 96),
          "깨지지 않게 케이스나 신문지로 감쌉니다.",
          "폐형광등 수거함이나 주민센터 등 수은 함유 폐기물 수거처에 배출합니다."),
)
# fmt: on
del C

_BY_KEY = {item.key: item for item in ITEMS}


def get(key: str) -> CatalogItem:
    """The item with this key; ``KeyError`` names the known keys when there is none."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown catalog item {key!r}; known: {', '.join(_BY_KEY)}") from None


def colour_distance(a: RGB, b: RGB) -> float:
    """Euclidean distance in RGB."""
    return math.dist(a, b)


def nearest(colour: RGB) -> tuple[CatalogItem, float]:
    """The item whose signature colour is nearest to ``colour``, and how far it is."""
    best = min(ITEMS, key=lambda item: colour_distance(item.colour, colour))
    return best, colour_distance(best.colour, colour)


def dominant_colour(image_bytes: bytes) -> RGB:
    """The per-channel median of a downscaled copy; ``ValueError`` if it is not an image."""
    try:
        with Image.open(io.BytesIO(image_bytes)) as img:
            # draft() lets the JPEG decoder scale down while decoding: cheap on big photos.
            img.draft("RGB", (160, 160))
            small = img.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a decodable image: {exc}") from exc
    small.thumbnail((64, 64))
    r, g, b = ImageStat.Stat(small).median
    return (int(r), int(g), int(b))


def identify(image_bytes: bytes) -> CatalogItem | None:
    """The catalog item in the photo, or ``None`` if no signature colour is close enough.

    Raises ``ValueError`` when the bytes are not a decodable image.
    """
    item, distance = nearest(dominant_colour(image_bytes))
    return item if distance <= MATCH_DISTANCE else None


def render(
    item: CatalogItem,
    *,
    seed: int = 0,
    size: tuple[int, int] = (640, 480),
    variant: Variant = "identical",
    variant_seed: int | None = None,
    base: Image.Image | None = None,
) -> bytes:
    """A JPEG photo of ``item``; the same arguments always give the same bytes.

    ``seed`` picks the photo (the scene's clutter and lighting, the grain). ``variant`` makes
    another copy of that photo: ``reencoded`` (another JPEG quality), ``resized`` (50-80 %) or
    ``cropped`` (up to 20 % of each dimension off the edges) as apps and messengers re-save
    one, and ``rephotographed`` as a second photo of the same scene would differ (see
    :func:`_rephotograph`). ``variant_seed`` (default: ``seed``) picks the variant's
    parameters, so one photo can have many copies. ``base``: ``base_photo(item, seed, size)``
    when the caller has it already (rendering many copies of one photo); never changed here.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    photo = base_photo(item, seed, size) if base is None else base
    picked = seed if variant_seed is None else variant_seed
    rng = random.Random(f"{item.key}:{seed}:{variant}:{picked}")
    if variant == "rephotographed":
        return _rephotograph(photo, rng)
    quality = _JPEG_QUALITY
    if variant == "reencoded":
        quality = rng.randint(55, 80)
    elif variant == "resized":
        factor = rng.uniform(0.5, 0.8)
        new_size = (max(1, round(size[0] * factor)), max(1, round(size[1] * factor)))
        photo = photo.resize(new_size, Image.Resampling.LANCZOS)
    elif variant == "cropped":
        photo = photo.crop(_crop_box(rng, size))
    return _jpeg(photo, quality)


# EXIF orientation tag values and the transpose that stores an upright picture under each (the
# decoder applies the inverse, PIL.ImageOps.exif_transpose).
_ORIENTATIONS = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


def _rephotograph(photo: Image.Image, rng: random.Random) -> bytes:
    """The same scene photographed again: the camera a little closer or further (scale 70-100 %)
    and shifted (up to 6 % off each edge), tilted a few degrees (+-4), other exposure (+-5
    levels), contrast (+-4 %) and white balance (+-2 % per channel), fresh sensor noise, a
    little blur half the time, another JPEG quality (60-95) and chroma subsampling, and a
    third of the time stored sideways or upside down with the EXIF orientation that rights it.

    Colour shifts stay small enough that the dominant colour remains within
    :data:`MATCH_DISTANCE` of the signature (the model still recognises the item)."""
    width, height = photo.size
    angle = rng.uniform(-4.0, 4.0)
    # Rotate, then cut the corners the rotation filled so no border shows.
    turned = photo.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
    margin = math.sin(math.radians(abs(angle)))
    inset_x, inset_y = int(height * margin / 2) + 1, int(width * margin / 2) + 1
    box = _crop_box(rng, (width - 2 * inset_x, height - 2 * inset_y), most=0.06)
    turned = turned.crop((box[0] + inset_x, box[1] + inset_y, box[2] + inset_x, box[3] + inset_y))
    factor = rng.uniform(0.7, 1.0)
    scaled = (max(8, round(width * factor)), max(8, round(height * factor)))
    img = turned.resize(scaled, Image.Resampling.LANCZOS)
    offset, contrast = rng.uniform(-5.0, 5.0), rng.uniform(0.96, 1.04)
    gains = [rng.uniform(0.98, 1.02) for _ in range(3)]
    bands = [
        band.point(lambda v, g=g: (v - 128) * contrast * g + 128 + offset)
        for band, g in zip(img.split(), gains, strict=True)
    ]
    img = Image.merge("RGB", bands)
    grain_size = (max(1, img.width // 2), max(1, img.height // 2))
    grain = Image.frombytes("L", grain_size, rng.randbytes(grain_size[0] * grain_size[1]))
    grain = grain.point(lambda v: 122 + v * 12 // 255).resize(img.size, Image.Resampling.BILINEAR)
    img = ImageChops.add(img, Image.merge("RGB", (grain, grain, grain)), offset=-128)
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    quality, subsampling = rng.randint(60, 95), rng.choice((0, 1, 2))
    exif = Image.Exif()
    if rng.random() < 1 / 3:
        orientation = rng.choice(tuple(_ORIENTATIONS))
        img = img.transpose(_ORIENTATIONS[orientation])
        exif[_EXIF_ORIENTATION] = orientation
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality, subsampling=subsampling, exif=exif.tobytes())
    return out.getvalue()


def _crop_box(
    rng: random.Random, size: tuple[int, int], most: float = 0.2
) -> tuple[int, int, int, int]:
    width, height = size
    cut_x = int(width * rng.uniform(0.0, most))
    cut_y = int(height * rng.uniform(0.0, most))
    left = rng.randint(0, cut_x)
    top = rng.randint(0, cut_y)
    return (left, top, width - (cut_x - left), height - (cut_y - top))


def base_photo(item: CatalogItem, seed: int, size: tuple[int, int]) -> Image.Image:
    """The photo ``seed`` of ``item`` before encoding: what every variant of it starts from."""
    # The scene (clutter, light, grain) is the family's, so look-alikes share it; the item's
    # colour and its object (the last shape, from the item's own generator) are its own.
    rng = random.Random(f"{item.scene}:{seed}")
    own = random.Random(f"{item.key}:{seed}:object")
    width, height = size
    img = Image.new("RGB", size, item.colour)
    draw = ImageDraw.Draw(img)
    area = width * height
    shapes = rng.randint(2, _MAX_SHAPES)
    for index in range(shapes):
        if index == shapes - 1:
            rng, scene_rng = own, rng
        shape_w = max(1, int(width * rng.uniform(0.05, 0.35)))
        shape_h = max(
            1, min(int(height * rng.uniform(0.05, 0.35)), int(area * _SHAPE_MAX_SHARE / shape_w))
        )
        x0 = rng.randint(0, width - shape_w)
        y0 = rng.randint(0, height - shape_h)
        box = (x0, y0, x0 + shape_w - 1, y0 + shape_h - 1)
        fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        kind = rng.choice(("ellipse", "rectangle", "polygon"))
        if kind == "ellipse":
            draw.ellipse(box, fill=fill)
        elif kind == "rectangle":
            draw.rounded_rectangle(box, radius=min(shape_w, shape_h) // 5, fill=fill)
        else:
            points = [(rng.randint(box[0], box[2]), rng.randint(box[1], box[3])) for _ in range(5)]
            draw.polygon(points, fill=fill)
    rng = scene_rng
    # Uneven light across the scene, +-10 levels, from one of four sides.
    light = Image.linear_gradient("L").point(lambda v: 118 + v * 20 // 255)
    light = light.rotate(90 * rng.randrange(4)).resize(size, Image.Resampling.BILINEAR)
    img = ImageChops.add(img, Image.merge("RGB", (light, light, light)), offset=-128)
    # Sensor grain, +-12 levels; seeded bytes rather than Image.effect_noise, whose C-level
    # generator cannot be seeded, so the same seed gives the same bytes.
    grain_size = (max(1, width // 4), max(1, height // 4))
    grain = Image.frombytes("L", grain_size, rng.randbytes(grain_size[0] * grain_size[1]))
    grain = grain.point(lambda v: 116 + v * 24 // 255).resize(size, Image.Resampling.BILINEAR)
    return ImageChops.add(img, Image.merge("RGB", (grain, grain, grain)), offset=-128)


def _jpeg(img: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()
