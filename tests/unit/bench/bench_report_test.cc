#include "bench_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace kolo::bench {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

RunInfo allreduceOnTwo() {
  RunInfo info;
  info.collective = Collective::kAllreduce;
  info.worldSize = 2;
  info.hosts = {"nodeA", "nodeA"};
  info.transport = "shm";
  info.kernelVariant = "avx2+f16c";
  info.algorithmBySize = {{1u << 20, "ring"}};
  info.iterationsText = "20 timed + 5 warmup per size";
  return info;
}

// A row with both column groups: out of place at `medianUs`, in place twice as fast.
RowResult rowOf(uint64_t bytes, size_t count, double medianUs) {
  RowResult row;
  row.shape = {bytes, count};
  row.outOfPlace = Timing{medianUs, medianUs * 2, 0};
  row.inPlace = Timing{medianUs / 2, medianUs, 0};
  return row;
}

TEST(BenchReport, FormatsBytesInBinaryUnits) {
  EXPECT_EQ(formatBytes(8), "8 B");
  EXPECT_EQ(formatBytes(1023), "1023 B");
  EXPECT_EQ(formatBytes(1024), "1 KiB");
  EXPECT_EQ(formatBytes(1536), "1.5 KiB");
  EXPECT_EQ(formatBytes(256u << 20), "256 MiB");
  EXPECT_EQ(formatBytes(uint64_t{3} << 30), "3 GiB");
}

TEST(BenchReport, SummarizesHostsInOrderOfAppearance) {
  std::vector<std::string> hosts = {"b", "a", "b", "b"};
  EXPECT_EQ(summarizeHosts(hosts), "b (3 ranks), a (1 rank)");
  EXPECT_EQ(summarizeHosts({}), "");
}

TEST(BenchReport, MergesConsecutiveSizesOfOneAlgorithm) {
  std::vector<std::pair<uint64_t, std::string>> bySize = {
      {8, "rd"}, {64, "rd"}, {1u << 20, "ring"}, {4u << 20, "ring"}, {16u << 20, "shm"}};
  EXPECT_EQ(summarizeAlgorithms(bySize), "rd 8 B..64 B, ring 1 MiB..4 MiB, shm 16 MiB");
  EXPECT_EQ(summarizeAlgorithms({}), "");
}

TEST(BenchReport, PreambleNamesWorldTransportAlgorithmAndKernel) {
  RunInfo info = allreduceOnTwo();
  std::string text = formatPreamble(info);
  EXPECT_THAT(text, HasSubstr("# kolo-bench allreduce\n"));
  EXPECT_THAT(text, HasSubstr("world size    : 2\n"));
  EXPECT_THAT(text, HasSubstr("nodeA (2 ranks)"));
  EXPECT_THAT(text, HasSubstr("transport     : shm\n"));
  EXPECT_THAT(text, HasSubstr("algorithm     : ring 1 MiB (--algo auto)\n"));
  EXPECT_THAT(text, HasSubstr("reduce kernel : avx2+f16c\n"));
  EXPECT_THAT(text, HasSubstr("dtype         : float32\n"));
  EXPECT_THAT(text, HasSubstr("op            : sum\n"));
  EXPECT_THAT(text, HasSubstr("iterations    : 20 timed + 5 warmup per size\n"));
}

std::vector<std::string> lineOf(const std::string& text, size_t index) {
  std::istringstream in(text);
  std::string line;
  for (size_t i = 0; i <= index; ++i) std::getline(in, line);
  return words(line);
}

TEST(BenchReport, HeaderHasOutOfPlaceThenInPlaceColumnsWithP99) {
  RunInfo info = allreduceOnTwo();
  const std::string header = formatTableHeader(info);
  EXPECT_THAT(lineOf(header, 0), ElementsAre("#", "out-of-place", "in-place"));
  EXPECT_THAT(lineOf(header, 1),
              ElementsAre("#", "size", "count", "type", "redop", "root", "time", "p99", "algbw",
                          "busbw", "#wrong", "time", "p99", "algbw", "busbw", "#wrong"));
  EXPECT_THAT(lineOf(header, 2), ElementsAre("#", "(B)", "(elements)", "(us)", "(us)", "(GB/s)",
                                             "(GB/s)", "(us)", "(us)", "(GB/s)", "(GB/s)"));
  info.compareMpi = true;
  EXPECT_THAT(lineOf(formatTableHeader(info), 1),
              ElementsAre("#", "size", "count", "type", "redop", "root", "time", "p99", "algbw",
                          "busbw", "#wrong", "time", "p99", "algbw", "busbw", "#wrong", "mpi_time",
                          "mpi_busbw", "ratio"));
}

TEST(BenchReport, RowComputesBandwidthsOfBothSides) {
  RunInfo info = allreduceOnTwo();
  info.worldSize = 4;  // busbw = algbw * 2 * 3 / 4
  RowResult row = rowOf(1'000'000, 250'000, 100.0);
  row.outOfPlace->wrong = 3;
  EXPECT_THAT(words(formatRow(info, row)),
              ElementsAre("1000000", "250000", "float32", "sum", "-1", "100.00", "200.00", "10.00",
                          "15.00", "3", "50.00", "100.00", "20.00", "30.00", "0"));
}

TEST(BenchReport, UnmeasuredSideIsNotAvailable) {
  RunInfo info = allreduceOnTwo();
  info.collective = Collective::kBroadcast;
  info.root = 1;
  info.dtype = DataType::kInt8;
  RowResult row = rowOf(4096, 4096, 4.0);
  row.outOfPlace.reset();
  EXPECT_THAT(words(formatRow(info, row)),
              ElementsAre("4096", "4096", "int8", "none", "1", "n/a", "n/a", "n/a", "n/a", "n/a",
                          "2.00", "4.00", "2.05", "2.05", "0"));
  EXPECT_THAT(formatPreamble(info), HasSubstr("broadcast has one buffer: in place"));
}

TEST(BenchReport, CompareColumnsUseThePeerSide) {
  RunInfo info = allreduceOnTwo();
  info.compareMpi = true;
  RowResult row = rowOf(1'000'000, 250'000, 100.0);  // in place: 50 us, 20 GB/s
  row.mpi = Timing{200.0, 300.0, 0};
  EXPECT_TRUE(peerIsInPlace(info, row));  // allreduce: MPI_IN_PLACE
  EXPECT_THAT(
      words(formatRow(info, row)),
      ElementsAre("1000000", "250000", "float32", "sum", "-1", "100.00", "200.00", "10.00", "10.00",
                  "0", "50.00", "100.00", "20.00", "20.00", "0", "200.00", "5.00", "4.00"));
  info.collective = Collective::kAlltoall;  // MPI_Alltoall has separate buffers
  EXPECT_FALSE(peerIsInPlace(info, row));
  row.mpi.reset();
  EXPECT_THAT(
      words(formatRow(info, row)),
      ElementsAre("1000000", "250000", "float32", "none", "-1", "100.00", "200.00", "10.00", "5.00",
                  "0", "50.00", "100.00", "20.00", "10.00", "0", "n/a", "n/a", "n/a"));
}

TEST(BenchReport, BoundColumnsAreTheFloorOverThePeerSide) {
  RunInfo info = allreduceOnTwo();
  info.collective = Collective::kAllgather;  // peer side: out of place
  info.bound = true;
  RowResult row = rowOf(1'000'000, 250'000, 100.0);
  row.boundUs = 25.0;
  ASSERT_TRUE(boundFraction(info, row).has_value());
  EXPECT_DOUBLE_EQ(*boundFraction(info, row), 0.25);
  EXPECT_THAT(words(formatRow(info, row)),
              ElementsAre("1000000", "250000", "float32", "none", "-1", "100.00", "200.00", "10.00",
                          "5.00", "0", "50.00", "100.00", "20.00", "10.00", "0", "25.00", "0.25"));
  EXPECT_THAT(formatTableHeader(info), HasSubstr("bound_time"));
  EXPECT_THAT(formatPreamble(info), HasSubstr("# bound"));
  const nlohmann::json json = toJson(info, std::vector<RowResult>{row});
  EXPECT_DOUBLE_EQ(json["results"][0]["bound_us"].get<double>(), 25.0);
  EXPECT_DOUBLE_EQ(json["results"][0]["bound_fraction"].get<double>(), 0.25);
  row.boundUs.reset();  // not measured: n/a, never a made-up fraction
  EXPECT_FALSE(boundFraction(info, row).has_value());
  EXPECT_THAT(formatRow(info, row), HasSubstr("n/a"));
}

TEST(BenchReport, SummaryCountsWrongValuesOfBothSidesAndAveragesBusBandwidth) {
  RunInfo info = allreduceOnTwo();
  // busbw: out of place 10 and 20, in place 20 and 40.
  std::vector<RowResult> rows = {rowOf(1'000'000, 250'000, 100.0), rowOf(1'000'000, 250'000, 50.0)};
  EXPECT_EQ(formatSummary(info, rows),
            "# Out of bounds values : 0 OK\n# Avg bus bandwidth : 22.5000\n");
  rows[1].inPlace->wrong = 7;
  rows[0].outOfPlace->wrong = 1;
  EXPECT_EQ(wrongElements(rows), 8u);
  EXPECT_THAT(formatSummary(info, rows), HasSubstr("# Out of bounds values : 8 FAILED\n"));
  EXPECT_EQ(formatSummary(info, {}),
            "# Out of bounds values : 0 OK\n# Avg bus bandwidth : 0.0000\n");
}

TEST(BenchReport, JsonHasMachineWorldAndBothSidesPerSize) {
  RunInfo info = allreduceOnTwo();
  info.machine.hostname = "nodeA";
  info.machine.cores = 2;
  info.compareMpi = true;
  info.topologyText = "# transport     : shm\n";
  RowResult compared = rowOf(1'000'000, 250'000, 100.0);
  compared.mpi = Timing{200.0, 300.0, 0};
  RowResult notAvailable = rowOf(2'000'000, 500'000, 100.0);
  notAvailable.inPlace->wrong = 2;
  std::vector<RowResult> rows = {compared, notAvailable};
  nlohmann::json json = toJson(info, rows);
  EXPECT_EQ(json["kind"], "sweep");
  EXPECT_EQ(json["machine"]["hostname"], "nodeA");
  EXPECT_EQ(json["machine"]["cores"], 2);
  EXPECT_EQ(json["world_size"], 2);
  EXPECT_EQ(json["transport"], "shm");
  EXPECT_EQ(json["collective"], "allreduce");
  EXPECT_EQ(json["topology"], "# transport     : shm\n");
  EXPECT_EQ(json["placement"], "both");
  ASSERT_EQ(json["results"].size(), 2u);
  const auto& first = json["results"][0];
  EXPECT_EQ(first["bytes"], 1'000'000);
  EXPECT_EQ(first["count"], 250'000);
  EXPECT_DOUBLE_EQ(first["out_of_place"]["median_us"].get<double>(), 100.0);
  EXPECT_DOUBLE_EQ(first["out_of_place"]["p99_us"].get<double>(), 200.0);
  EXPECT_DOUBLE_EQ(first["out_of_place"]["busbw"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(first["in_place"]["median_us"].get<double>(), 50.0);
  EXPECT_DOUBLE_EQ(first["in_place"]["busbw"].get<double>(), 20.0);
  // The top level repeats the side MPI is compared with.
  EXPECT_EQ(first["placement"], "in_place");
  EXPECT_DOUBLE_EQ(first["median_us"].get<double>(), 50.0);
  EXPECT_DOUBLE_EQ(first["busbw"].get<double>(), 20.0);
  EXPECT_EQ(first["wrong"], 0);
  EXPECT_EQ(first["algorithm"], "ring");
  EXPECT_DOUBLE_EQ(first["mpi_median_us"].get<double>(), 200.0);
  EXPECT_DOUBLE_EQ(first["mpi_p99_us"].get<double>(), 300.0);
  EXPECT_DOUBLE_EQ(first["mpi_busbw"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(first["ratio"].get<double>(), 4.0);
  const auto& second = json["results"][1];
  EXPECT_TRUE(second["mpi_median_us"].is_null());
  EXPECT_TRUE(second["ratio"].is_null());
  EXPECT_EQ(second["wrong"], 2);
  EXPECT_FALSE(second.contains("algorithm"));  // only one size had an algorithm recorded

  info.compareMpi = false;
  EXPECT_FALSE(toJson(info, rows)["results"][0].contains("mpi_median_us"));
  rows[0].inPlace.reset();
  EXPECT_TRUE(toJson(info, rows)["results"][0]["in_place"].is_null());
  EXPECT_EQ(toJson(info, rows)["results"][0]["placement"], "out_of_place");
}

TEST(BenchReport, CsvHasTheSameRows) {
  RunInfo info = allreduceOnTwo();
  std::vector<RowResult> rows = {rowOf(1'000'000, 250'000, 100.0)};
  EXPECT_EQ(toCsv(info, rows),
            "size,count,type,redop,root,oop_time_us,oop_p99_us,oop_algbw_gbps,oop_busbw_gbps,"
            "oop_wrong,ip_time_us,ip_p99_us,ip_algbw_gbps,ip_busbw_gbps,ip_wrong\n"
            "1000000,250000,float32,sum,-1,100.0000,200.0000,10.0000,10.0000,0,50.0000,100.0000,"
            "20.0000,20.0000,0\n");
  info.compareMpi = true;
  rows[0].outOfPlace.reset();
  EXPECT_EQ(toCsv(info, rows),
            "size,count,type,redop,root,oop_time_us,oop_p99_us,oop_algbw_gbps,oop_busbw_gbps,"
            "oop_wrong,ip_time_us,ip_p99_us,ip_algbw_gbps,ip_busbw_gbps,ip_wrong,mpi_time_us,"
            "mpi_busbw_gbps,ratio\n"
            "1000000,250000,float32,sum,-1,n/a,n/a,n/a,n/a,n/a,50.0000,100.0000,20.0000,20.0000,0,"
            "n/a,n/a,n/a\n");
}

TEST(BenchReport, WriteFailureNamesThePath) {
  Status status = writeTextFile("/nonexistent-kolo-dir/out.json", "{}");
  EXPECT_EQ(status.code(), Code::kIoError);
  EXPECT_THAT(status.message(), HasSubstr("/nonexistent-kolo-dir/out.json"));
}

TEST(BenchReport, WritesTheWholeFile) {
  std::string path = ::testing::TempDir() + "kolo_bench_report_test.csv";
  ASSERT_TRUE(writeTextFile(path, "a,b\n1,2\n").isOk());
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(content.str(), "a,b\n1,2\n");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace kolo::bench
