"""What the doctor tests share: failing with the output, and asserting a verdict's text."""
import sys


def fail(message, output=""):
    print(f"FAIL: {message}\n{output}")
    sys.exit(1)


def expect(text, needle, what="the verdict"):
    if needle not in text:
        fail(f"{what} lacks {needle!r}", text)
