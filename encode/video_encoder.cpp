#include "encode/video_encoder.h"

namespace tessera {

std::string_view to_string(EncoderKind k) {
  switch (k) {
    case EncoderKind::software: return "software";
    case EncoderKind::nvenc: return "NVENC";
    case EncoderKind::vaapi: return "VAAPI";
    case EncoderKind::qsv: return "QSV";
  }
  return "?";
}

}  // namespace tessera
