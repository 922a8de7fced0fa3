#include "kolo/launcher/line_prefixer.h"

#include <gtest/gtest.h>

#include <string>

namespace kolo::launcher {
namespace {

std::string feedAll(LinePrefixer& prefixer, std::initializer_list<std::string_view> chunks) {
  std::string out;
  for (std::string_view chunk : chunks) prefixer.feed(chunk, out);
  return out;
}

TEST(LinePrefixer, PrefixesEachCompleteLine) {
  LinePrefixer prefixer("[3]<stdout>:");
  EXPECT_EQ(feedAll(prefixer, {"a\nbb\n\nccc\n"}),
            "[3]<stdout>:a\n[3]<stdout>:bb\n[3]<stdout>:\n[3]<stdout>:ccc\n");
  EXPECT_FALSE(prefixer.hasPending());
}

TEST(LinePrefixer, HoldsPartialLineUntilNewline) {
  LinePrefixer prefixer("[0]<stderr>:");
  std::string out;
  prefixer.feed("hel", out);
  EXPECT_EQ(out, "");
  EXPECT_TRUE(prefixer.hasPending());
  prefixer.feed("lo wor", out);
  EXPECT_EQ(out, "");
  prefixer.feed("ld\nnext", out);
  EXPECT_EQ(out, "[0]<stderr>:hello world\n");
  prefixer.finish(out);
  EXPECT_EQ(out, "[0]<stderr>:hello world\n[0]<stderr>:next\n");
}

TEST(LinePrefixer, FinishWithoutPendingAddsNothing) {
  LinePrefixer prefixer("[1]:");
  std::string out = feedAll(prefixer, {"done\n"});
  prefixer.finish(out);
  EXPECT_EQ(out, "[1]:done\n");
  std::string empty;
  LinePrefixer untouched("[2]:");
  untouched.finish(empty);
  EXPECT_EQ(empty, "");
}

TEST(LinePrefixer, ByteAtATimeGivesSameResult) {
  const std::string input = "first line\r\nsecond\rstill second\nthird";
  LinePrefixer whole("[p]");
  std::string expected = feedAll(whole, {input});
  whole.finish(expected);
  LinePrefixer bytes("[p]");
  std::string out;
  for (char c : input) bytes.feed(std::string_view(&c, 1), out);
  bytes.finish(out);
  EXPECT_EQ(out, expected);
  EXPECT_EQ(out, "[p]first line\r\n[p]second\rstill second\n[p]third\n");
}

TEST(LinePrefixer, CarriageReturnPassesThrough) {
  LinePrefixer prefixer("[0]:");
  EXPECT_EQ(feedAll(prefixer, {"progress 10%\rprogress 50%\rprogress 100%\n"}),
            "[0]:progress 10%\rprogress 50%\rprogress 100%\n");
}

TEST(LinePrefixer, MultibyteUtf8SplitAcrossReadsIsIntact) {
  // "é" (2 bytes), "€" (3 bytes), "😀" (4 bytes) each split between two reads.
  LinePrefixer prefixer("[0]:");
  EXPECT_EQ(feedAll(prefixer, {"caf\xC3", "\xA9 \xE2\x82", "\xAC \xF0\x9F", "\x98\x80\n"}),
            "[0]:caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\n");
}

TEST(LinePrefixer, HugeLineIsCutIntoBoundedPiecesWithoutLosingBytes) {
  const size_t maxLine = 1000;
  LinePrefixer prefixer("[5]:", maxLine);
  std::string line;
  for (size_t i = 0; i < 10 * maxLine + 17; ++i) line.push_back(static_cast<char>('a' + i % 26));
  std::string out;
  // Fed in odd-sized chunks so cuts happen both inside feed() and across calls.
  for (size_t at = 0; at < line.size(); at += 333) {
    out.clear();
    prefixer.feed(std::string_view(line).substr(at, 333), out);
    for (size_t pos = 0; pos < out.size();) {
      size_t end = out.find('\n', pos);
      ASSERT_NE(end, std::string::npos);
      EXPECT_LE(end - pos, std::string("[5]:").size() + maxLine);
      pos = end + 1;
    }
  }
  // Reassembling all pieces gives back the original line.
  LinePrefixer again("[5]:", maxLine);
  std::string all;
  again.feed(line + "\n", all);
  std::string joined;
  size_t pieces = 0;
  for (size_t pos = 0; pos < all.size();) {
    size_t end = all.find('\n', pos);
    ASSERT_EQ(all.compare(pos, 4, "[5]:"), 0);
    joined += all.substr(pos + 4, end - pos - 4);
    pos = end + 1;
    ++pieces;
  }
  EXPECT_EQ(joined, line);
  EXPECT_EQ(pieces, 11u);
}

TEST(LinePrefixer, HugeLineCutNeverSplitsUtf8Character) {
  // 3-byte characters with a limit that is not a multiple of 3: a naive cut would split one.
  const size_t maxLine = 100;
  std::string line;
  for (int i = 0; i < 200; ++i) line += "\xE2\x82\xAC";
  LinePrefixer prefixer("", maxLine);
  std::string out;
  prefixer.feed(line, out);
  prefixer.finish(out);
  std::string joined;
  for (size_t pos = 0; pos < out.size();) {
    size_t end = out.find('\n', pos);
    std::string piece = out.substr(pos, end - pos);
    EXPECT_EQ(piece.size() % 3, 0u) << "piece of " << piece.size() << " bytes splits a character";
    EXPECT_LE(piece.size(), maxLine);
    joined += piece;
    pos = end + 1;
  }
  EXPECT_EQ(joined, line);
}

TEST(Utf8SafeCut, BacksOffToCharacterStart) {
  std::string_view text =
      "ab\xE2\x82\xAC"
      "cd";
  EXPECT_EQ(utf8SafeCut(text, 2), 2u);  // before the euro sign
  EXPECT_EQ(utf8SafeCut(text, 3), 2u);  // inside it
  EXPECT_EQ(utf8SafeCut(text, 4), 2u);
  EXPECT_EQ(utf8SafeCut(text, 5), 5u);  // right after it
  EXPECT_EQ(utf8SafeCut(text, 100), text.size());
  // Stray continuation bytes are not a character to protect.
  EXPECT_EQ(utf8SafeCut("\x80\x80\x80\x80\x80", 3), 3u);
}

}  // namespace
}  // namespace kolo::launcher
