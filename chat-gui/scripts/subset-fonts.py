#!/usr/bin/env python3
"""Makes the font files the desktop app ships (chat-gui/fonts/) from Debian's Noto fonts.

egui's default fonts cover Latin, Greek and Cyrillic only. The app adds Hebrew, Arabic, the
common characters of Chinese, Japanese and Korean, and colour emoji. The CJK and emoji fonts
are far too large whole (19 MB and 11 MB), so they are cut down to the characters people
write most:

- CJK: GB 2312 level 1 (the 3,755 most common Hanzi), JIS X 0208 level 1 (2,965 Kanji), the
  2,350 Hangul syllables of KS X 1001, kana, CJK punctuation and full-width forms.
- Emoji: faces, hearts, hands and the symbols of everyday chat (see EMOJI below).

Needs: apt-get install fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji;
pip install fonttools. Run from anywhere; commit the files it writes.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fonts")
NOTO = "/usr/share/fonts/truetype/noto"
CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
# Index of "Noto Sans CJK SC" in the collection (JP, KR, SC, TC, HK, then the mono faces).
CJK_SC_INDEX = 2


def codec_range(codec, rows, cols=range(0xA1, 0xFF)):
    """Characters of a two-byte EUC codec, row by row."""
    chars = set()
    for row in rows:
        for col in cols:
            try:
                chars.add(bytes([row, col]).decode(codec))
            except UnicodeDecodeError:
                pass
    return chars


def cjk_characters():
    chars = set()
    chars |= codec_range("gb2312", range(0xB0, 0xD8))  # level 1 Hanzi
    chars |= codec_range("euc_jp", range(0xB0, 0xD0))  # level 1 Kanji
    chars |= codec_range("euc_kr", range(0xB0, 0xC9))  # common Hangul syllables
    ranges = [
        (0x3000, 0x303F),  # CJK symbols and punctuation
        (0x3040, 0x30FF),  # Hiragana, Katakana
        (0x3130, 0x318F),  # Hangul compatibility Jamo
        (0xFF00, 0xFFEF),  # half-width and full-width forms
    ]
    for lo, hi in ranges:
        chars |= {chr(c) for c in range(lo, hi + 1)}
    return chars


# Emoji people use every day. The check mark and clock the app draws after a message's time
# are left out on purpose: they stay monochrome, in the text's colour.
EMOJI = [
    (0x1F600, 0x1F64F),  # faces and gestures
    (0x1F910, 0x1F92F),  # more faces and hands
    (0x1F970, 0x1F97A),
    (0x1F440, 0x1F450),  # eyes, hands
    (0x1F493, 0x1F49F),  # hearts
    (0x1F389, 0x1F38A),  # party
    (0x1F525, 0x1F525),  # fire
    (0x1F680, 0x1F680),  # rocket
    (0x1F4AF, 0x1F4AF),  # 100
    (0x1F31F, 0x1F31F),  # star
    (0x1F37A, 0x1F37B),  # beer
    (0x2600, 0x2601),  # sun, cloud
    (0x2615, 0x2615),  # coffee
    (0x26A1, 0x26A1),  # lightning
    (0x2705, 0x2705),  # white check mark in a green box
    (0x274C, 0x274C),  # cross
    (0x2764, 0x2764),  # heart
    (0x2728, 0x2728),  # sparkles
    (0x1F4A1, 0x1F4A1),  # bulb
    (0x1F44D, 0x1F44E),  # thumbs
]


def subset(src, dst, unicodes, extra=()):
    args = [
        sys.executable, "-m", "fontTools.subset", src,
        "--output-file=" + dst,
        "--unicodes=" + ",".join("U+%04X" % c for c in sorted(unicodes)),
        "--layout-features=*",
        "--no-hinting",
        "--desubroutinize",
        "--name-IDs=*",
        "--name-languages=*",
        "--notdef-outline",
    ] + list(extra)
    subprocess.run(args, check=True)
    print("%-40s %8d bytes" % (os.path.basename(dst), os.path.getsize(dst)))


def main():
    os.makedirs(OUT, exist_ok=True)
    basic = set(range(0x20, 0x7F))
    hebrew = basic | set(range(0x0590, 0x0600)) | set(range(0xFB1D, 0xFB50))
    subset(os.path.join(NOTO, "NotoSansHebrew-Regular.ttf"),
           os.path.join(OUT, "NotoSansHebrew-Regular.ttf"), hebrew)
    # egui shapes Arabic with the font's own joining features (kept by --layout-features=*);
    # the presentation forms are there for text that arrives already joined.
    arabic = (basic | set(range(0x0600, 0x0700)) | set(range(0x0750, 0x0780))
              | set(range(0xFB50, 0xFE00)) | set(range(0xFE70, 0xFF00)))
    subset(os.path.join(NOTO, "NotoSansArabic-Regular.ttf"),
           os.path.join(OUT, "NotoSansArabic-Regular.ttf"), arabic)
    subset(CJK, os.path.join(OUT, "NotoSansCJKsc-Common.otf"),
           {ord(c) for c in cjk_characters()}, ["--font-number=%d" % CJK_SC_INDEX])
    emoji = set()
    for lo, hi in EMOJI:
        emoji |= set(range(lo, hi + 1))
    subset(os.path.join(NOTO, "NotoColorEmoji.ttf"),
           os.path.join(OUT, "NotoColorEmoji-Common.ttf"), emoji)


if __name__ == "__main__":
    main()
