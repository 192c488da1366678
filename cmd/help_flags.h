// Shared by projd and projctl: CLI11 stops parsing at --help or --version (it prints and
// exits), so an unknown flag beside them would go unreported; this finds it first.
#ifndef PROJD_CMD_HELP_FLAGS_H_
#define PROJD_CMD_HELP_FLAGS_H_

#include <CLI/CLI.hpp>
#include <string>

namespace projd_cmd {

// When the command line asks for --help, -h or --version: the first flag (up to its '=') that
// neither `app` nor any of its subcommands has, or "" when there is none (or no such ask).
// Arguments after "--", and words that are not flags ("-1" is a value), are passed over.
inline std::string UnknownFlagBesideHelp(const CLI::App& app, int argc, char** argv) {
  bool asks_help = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    asks_help = asks_help || a == "--help" || a == "-h" || a == "--version";
  }
  for (int i = 1; asks_help && i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") break;
    if (a.size() < 2 || a[0] != '-' || (a[1] >= '0' && a[1] <= '9')) continue;
    std::string name = a.substr(0, a.find('='));
    bool known = app.get_option_no_throw(name) != nullptr;
    for (const CLI::App* sub : app.get_subcommands({})) {
      known = known || sub->get_option_no_throw(name) != nullptr;
    }
    if (!known) return name;
  }
  return std::string();
}

}  // namespace projd_cmd

#endif  // PROJD_CMD_HELP_FLAGS_H_
