// Detects cut DICOM files. GDCM (through ITK 5.2) reads a slice whose pixel data stops early
// without any error, leaving the rest of the slice zero or stale. This walks the top-level data
// set of a DICOM Part 10 file (without reading values) to the Pixel Data element and checks that
// all its declared bytes are present.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "io/io_common.h"

namespace fs = std::filesystem;

namespace useg::io {

namespace {

constexpr uint32_t kUndefined = 0xFFFFFFFFu;

class DicomWalker {
 public:
  explicit DicomWalker(const std::string& path) : m_in(path, std::ios::binary) {
    std::error_code ec;
    m_size = fs::file_size(path, ec);
  }

  // "" when the pixel data is complete (or the file is not something we can judge).
  std::string check() {
    char magic[4] = {};
    if (m_size < 132 || !at(128) || !m_in.read(magic, 4) || std::memcmp(magic, "DICM", 4) != 0)
      return "";
    m_pos = 132;
    // File meta information (group 0002) is always explicit VR little endian.
    std::string syntax;
    while (true) {
      uint16_t group = 0;
      if (!peek_group(&group) || group != 0x0002) break;
      Element e;
      if (!read_element(&e, true, false)) return m_problem;
      if (e.element == 0x0010 && e.length != kUndefined && e.length < 256) {
        syntax.resize(e.length);
        at(m_pos);
        m_in.read(&syntax[0], e.length);
        while (!syntax.empty() && (syntax.back() == '\0' || syntax.back() == ' ')) syntax.pop_back();
      }
      if (!skip_value(e)) return m_problem;
    }
    if (syntax == "1.2.840.10008.1.2.1.99") return "";  // deflated: nothing to walk
    const bool explicit_vr = syntax != "1.2.840.10008.1.2";
    const bool big_endian = syntax == "1.2.840.10008.1.2.2";
    for (int n = 0; n < 100000 && m_pos < m_size; ++n) {
      Element e;
      if (!read_element(&e, explicit_vr, big_endian)) return m_problem;
      if (e.group == 0x7FE0 && e.element == 0x0010) {
        if (e.length == kUndefined) return "";  // encapsulated (compressed) frames
        if (m_pos + e.length > m_size) {
          std::ostringstream os;
          os << "its pixel data needs " << e.length << " bytes from byte " << m_pos
             << ", the file holds " << m_size << " bytes";
          return os.str();
        }
        return "";
      }
      if (!skip_value(e, explicit_vr, big_endian)) return m_problem;
    }
    return "";
  }

 private:
  struct Element {
    uint16_t group = 0, element = 0;
    uint32_t length = 0;
  };

  bool at(uint64_t pos) {
    m_in.clear();
    return static_cast<bool>(m_in.seekg(static_cast<std::streamoff>(pos)));
  }

  template <typename T>
  bool read(T* v, bool big_endian) {
    unsigned char b[sizeof(T)];
    if (!at(m_pos) || !m_in.read(reinterpret_cast<char*>(b), sizeof(T))) return fail("");
    m_pos += sizeof(T);
    *v = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      *v = static_cast<T>(*v | (T(b[big_endian ? sizeof(T) - 1 - i : i]) << (8 * i)));
    return true;
  }

  bool peek_group(uint16_t* group) {
    uint64_t keep = m_pos;
    bool ok = read(group, false);
    m_pos = keep;
    return ok;
  }

  bool fail(const std::string& what) {
    std::ostringstream os;
    os << (what.empty() ? "its data set stops in the middle of an element" : what)
       << " (at byte " << m_pos << " of " << m_size << ")";
    m_problem = os.str();
    return false;
  }

  bool read_element(Element* e, bool explicit_vr, bool big_endian) {
    if (!read(&e->group, big_endian) || !read(&e->element, big_endian)) return false;
    if (e->group == 0xFFFE) return read(&e->length, big_endian);  // item tags: no VR
    if (!explicit_vr) return read(&e->length, big_endian);
    char vr[2];
    if (!at(m_pos) || !m_in.read(vr, 2)) return fail("");
    m_pos += 2;
    static const char* const kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                        "SV", "UC", "UN", "UR", "UT", "UV"};
    for (const char* l : kLong)
      if (vr[0] == l[0] && vr[1] == l[1]) {
        m_pos += 2;  // reserved
        return read(&e->length, big_endian);
      }
    uint16_t short_length = 0;
    if (!read(&short_length, big_endian)) return false;
    e->length = short_length;
    return true;
  }

  // Skips an element's value; undefined lengths are sequences of items ended by a delimiter.
  bool skip_value(const Element& e, bool explicit_vr = true, bool big_endian = false,
                  int depth = 0) {
    if (e.length != kUndefined) {
      if (m_pos + e.length > m_size) {
        std::ostringstream os;
        os << "element (" << std::hex << e.group << "," << e.element << std::dec
           << ") declares " << e.length << " bytes past the end of the file";
        return fail(os.str());
      }
      m_pos += e.length;
      return true;
    }
    if (depth > 16) return fail("sequences nest too deeply");
    for (int n = 0; n < 1000000; ++n) {  // items of the sequence
      Element item;
      if (!read_element(&item, false, big_endian)) return false;
      if (item.group == 0xFFFE && item.element == 0xE0DD) return true;  // end of sequence
      if (item.group != 0xFFFE || item.element != 0xE000) return fail("malformed sequence");
      if (item.length != kUndefined) {
        if (!skip_value(item)) return false;
        continue;
      }
      for (int k = 0; k < 1000000; ++k) {  // elements of an undefined-length item
        Element inner;
        if (!read_element(&inner, explicit_vr, big_endian)) return false;
        if (inner.group == 0xFFFE && inner.element == 0xE00D) break;  // end of item
        if (!skip_value(inner, explicit_vr, big_endian, depth + 1)) return false;
      }
    }
    return fail("sequence without end");
  }

  std::ifstream m_in;
  uint64_t m_size = 0;
  uint64_t m_pos = 0;
  std::string m_problem;
};

}  // namespace

std::string dicom_truncation(const std::string& file) { return DicomWalker(file).check(); }

}  // namespace useg::io
