// Fuzz target: seed settings (parse_seed). Input: the value. "random" is random; anything else
// accepted is a decimal number that prints back as itself (less leading zeros); an error names
// the setting.
#include <string>

#include "fuzz.hpp"
#include "mpinit/seed.hpp"

using namespace mpinit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string value = fuzz::c_string(data, size);
  SeedSetting s;
  try {
    s = parse_seed("MPINIT_SEED", value);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == Errc::invalid_setting && fuzz::names_one_of(e, {"MPINIT_SEED"}, "='"), e.what());
    return 0;
  }
  FUZZ_CHECK(s.random == (value == "random"), value);
  if (s.random) return 0;
  size_t nz = value.find_first_not_of('0');
  const std::string canonical = nz == std::string::npos ? "0" : value.substr(nz);
  FUZZ_CHECK(std::to_string(s.value) == canonical, "'" + value + "' -> " + std::to_string(s.value));
  FUZZ_CHECK(parse_seed("MPINIT_SEED", canonical).value == s.value, canonical);
  FUZZ_CHECK(derive_seed(s.value, 3, value) == derive_seed(s.value, 3, value), "derive_seed is not deterministic");
  return 0;
}
