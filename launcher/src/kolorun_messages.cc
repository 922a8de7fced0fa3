#include "kolo/launcher/kolorun_messages.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace kolo::launcher {

void printError(const std::string& message) {
  std::fputs(fmt::format("kolorun: {}\n", message).c_str(), stderr);
  std::fflush(stderr);
}

void logLine(const std::string& line) {
  std::string text = "kolorun: " + line + "\n";
  (void)!::write(2, text.data(), text.size());
}

int stopWith(const Status& status, int exitCode) {
  printError(status.message());
  return exitCode;
}

}  // namespace kolo::launcher
