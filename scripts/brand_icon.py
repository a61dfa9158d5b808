"""Draw RoiWatch's brand icon: a region drawn on a camera picture, with a person standing in it.

Writes custom_components/roiwatch/brand/icon.png (256x256) and icon@2x.png (512x512), as Home
Assistant's brand rules want them: PNG, square, transparent outside the picture, trimmed (the
picture touches every edge). Drawn once large and scaled down, so both sizes are the same picture.

    .venv/bin/python scripts/brand_icon.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
BRAND = ROOT / "custom_components" / "roiwatch" / "brand"
CANVAS = 2048  # drawn at 4x the largest size: scaling down smooths every edge

NIGHT = (26, 43, 69, 255)  # the camera's picture: a dark scene lets the region stand out
GROUND = (45, 74, 110, 255)
REGION = (255, 152, 0)  # Material orange: the colour the panel draws regions in is not blue
PERSON = (255, 255, 255, 255)


def draw() -> Image.Image:
    """The icon at CANVAS x CANVAS."""
    s = CANVAS

    def px(*points: float) -> list[tuple[float, float]]:
        return [(points[i] * s, points[i + 1] * s) for i in range(0, len(points), 2)]

    picture = Image.new("RGBA", (s, s), NIGHT)
    pen = ImageDraw.Draw(picture)
    # The ground in perspective, below a horizon at 40 %.
    pen.polygon(px(0, 0.40, 1, 0.40, 1, 1, 0, 1), fill=GROUND)
    # The region: a quadrilateral on the ground, filled half-transparent, outlined, with handles.
    corners = px(0.30, 0.50, 0.78, 0.50, 0.90, 0.86, 0.14, 0.86)
    fill = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    ImageDraw.Draw(fill).polygon(corners, fill=(*REGION, 110))
    picture = Image.alpha_composite(picture, fill)
    pen = ImageDraw.Draw(picture)
    pen.line([*corners, corners[0]], fill=(*REGION, 255), width=round(0.035 * s), joint="curve")
    # A person walking in the region (head, body, arms and legs in thick round strokes), white
    # on the dark picture, the feet on the region: the icon still reads as a person at 24 px.
    pen.ellipse(px(0.455, 0.17, 0.585, 0.30), fill=PERSON)
    limbs = (
        (0.52, 0.36, 0.52, 0.56),  # body
        (0.52, 0.38, 0.40, 0.50),  # arms
        (0.52, 0.38, 0.64, 0.50),
        (0.52, 0.56, 0.43, 0.76),  # legs
        (0.52, 0.56, 0.61, 0.76),
    )
    for x0, y0, x1, y1 in limbs:
        _stroke(pen, px(x0, y0, x1, y1), 0.075 * s if (x0, x1) == (0.52, 0.52) else 0.055 * s)
    # A camera's recording dot in the picture's corner.
    pen.ellipse(px(0.10, 0.10, 0.20, 0.20), fill=(229, 57, 53, 255))
    for x, y in corners:
        r = 0.05 * s
        pen.ellipse((x - r, y - r, x + r, y + r), fill=PERSON, outline=(*REGION, 255), width=round(0.02 * s))
    # The picture's rounded corners are transparent: the icon sits on light and dark themes alike.
    mask = Image.new("L", (s, s), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, s - 1, s - 1), radius=0.18 * s, fill=255)
    icon = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    icon.paste(picture, (0, 0), mask)
    return icon


def _stroke(pen: ImageDraw.ImageDraw, ends: list[tuple[float, float]], width: float) -> None:
    """A thick line with round caps."""
    pen.line(ends, fill=PERSON, width=round(width))
    for x, y in ends:
        pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=PERSON)


def main() -> None:
    BRAND.mkdir(parents=True, exist_ok=True)
    icon = draw()
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        icon.resize((size, size), Image.Resampling.LANCZOS).save(BRAND / name, optimize=True)
        print(BRAND / name)


if __name__ == "__main__":
    main()
