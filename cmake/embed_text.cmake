# cmake -DIN=FILE -DOUT=HEADER -DNAME=SYMBOL -P embed_text.cmake: FILE's text as
# `inline constexpr const char SYMBOL[]` in HEADER (a raw string), rewritten only when it changes.
file(READ "${IN}" text)
set(content "// Generated from ${IN} by cmake/embed_text.cmake; do not edit.\n#pragma once\ninline constexpr const char ${NAME}[] = R\"USEG_EMBED(${text})USEG_EMBED\";\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${content}")
