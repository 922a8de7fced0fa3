#include "kolo/launcher/host_list.h"

#include <gtest/gtest.h>

namespace kolo::launcher {
namespace {

std::vector<std::pair<std::string, int>> namesAndSlots(const std::vector<HostSlots>& hosts) {
  std::vector<std::pair<std::string, int>> out;
  for (const HostSlots& h : hosts) out.emplace_back(h.name, h.slots);
  return out;
}

using Pairs = std::vector<std::pair<std::string, int>>;

TEST(HostList, ParsesDashH) {
  auto hosts = parseHostList("a:2,b.example:4,c");
  ASSERT_TRUE(hosts.hasValue()) << hosts.status().toString();
  EXPECT_EQ(namesAndSlots(*hosts), (Pairs{{"a", 2}, {"b.example", 4}, {"c", 1}}));
}

TEST(HostList, DashHErrorsNameTheBadEntry) {
  for (const char* bad : {"a:0", "a:x", ":2", "a:2,,b", "a b:1"}) {
    auto hosts = parseHostList(bad);
    ASSERT_FALSE(hosts.hasValue()) << bad;
    EXPECT_NE(hosts.status().message().find(bad), std::string::npos) << hosts.status().message();
  }
  auto twice = parseHostList("a:1,a:2");
  ASSERT_FALSE(twice.hasValue());
  EXPECT_NE(twice.status().message().find("'a' is listed twice"), std::string::npos);
}

TEST(HostList, HostfileAcceptsAllThreeFormsAndComments) {
  const char* text =
      "# cluster\n"
      "node1 slots=4   # big one\n"
      "\n"
      "node2:2\n"
      "   node3\n"
      "node4 slots=2 max_slots=8\n";
  auto hosts = parseHostfile(text, "hosts.txt");
  ASSERT_TRUE(hosts.hasValue()) << hosts.status().toString();
  EXPECT_EQ(namesAndSlots(*hosts), (Pairs{{"node1", 4}, {"node2", 2}, {"node3", 1}, {"node4", 2}}));
}

TEST(HostList, HostfileErrorNamesFileAndLine) {
  auto hosts = parseHostfile("node1 slots=2\n# ok\nnode2 slots=two\n", "my.hosts");
  ASSERT_FALSE(hosts.hasValue());
  EXPECT_NE(hosts.status().message().find("my.hosts:3:"), std::string::npos)
      << hosts.status().message();
  EXPECT_NE(hosts.status().message().find("'two'"), std::string::npos);
  auto extra = parseHostfile("node1 cpus=2\n", "f");
  ASSERT_FALSE(extra.hasValue());
  EXPECT_NE(extra.status().message().find("f:1: unexpected 'cpus=2'"), std::string::npos)
      << extra.status().message();
  auto empty = parseHostfile("# nothing\n", "e");
  ASSERT_FALSE(empty.hasValue());
  EXPECT_NE(empty.status().message().find("e: names no host"), std::string::npos);
  EXPECT_FALSE(readHostfile("/nonexistent/kolo-hosts").hasValue());
}

TEST(HostList, LocalHostsAreLoopbackLocalhostAndOwnName) {
  EXPECT_TRUE(isLocalHost("localhost", "box"));
  EXPECT_TRUE(isLocalHost("127.0.0.1", "box"));
  EXPECT_TRUE(isLocalHost("127.3.2.1", "box"));
  EXPECT_TRUE(isLocalHost("box", "box"));
  EXPECT_TRUE(isLocalHost("box", "box.lab.example"));
  EXPECT_TRUE(isLocalHost("box.lab.example", "box"));
  EXPECT_FALSE(isLocalHost("boxer", "box"));
  EXPECT_FALSE(isLocalHost("box.other.example", "box.lab.example"));
  EXPECT_FALSE(isLocalHost("128.0.0.1", "box"));
  EXPECT_FALSE(isLoopbackAddress("127.0.0"));
}

TEST(HostList, ClassifyGivesEachLoopbackHostItsOwnAddress) {
  auto hosts = parseHostList("127.0.0.1:2,127.0.0.2:2,localhost:1,box:1,remote-host-x:1");
  ASSERT_TRUE(hosts.hasValue());
  classifyHosts(*hosts, "box", "10.1.2.3");
  EXPECT_EQ((*hosts)[0].address, "127.0.0.1");
  EXPECT_EQ((*hosts)[1].address, "127.0.0.2");
  EXPECT_EQ((*hosts)[2].address, "10.1.2.3");
  EXPECT_EQ((*hosts)[3].address, "10.1.2.3");
  for (int i = 0; i < 4; ++i) EXPECT_TRUE((*hosts)[i].local) << i;
  EXPECT_FALSE((*hosts)[4].local);
  EXPECT_EQ((*hosts)[4].address, "remote-host-x") << "an unresolvable name stays a name";
}

TEST(HostList, InterfaceAddressOfLoopbackAndUnknown) {
  auto lo = interfaceAddress("lo");
  ASSERT_TRUE(lo.hasValue()) << lo.status().toString();
  EXPECT_EQ(*lo, "127.0.0.1");
  auto none = interfaceAddress("kolo-no-such-if0");
  ASSERT_FALSE(none.hasValue());
  EXPECT_NE(none.status().message().find("'kolo-no-such-if0'"), std::string::npos);
}

}  // namespace
}  // namespace kolo::launcher
