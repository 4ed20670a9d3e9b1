# SPDX-License-Identifier: MIT
# capture_stdout.cmake: run CMD (a list: the program and its arguments) and
# write what it prints to OUT, replacing OUT only when CMD succeeds, so a
# failed generator fails the build instead of leaving a half page behind.
# The build uses it for the pages and completion scripts that lmsd and the
# CLIs print from their own tables (docs/operations.md, "Manual pages"):
#
#   cmake "-DCMD=lmsd;--help-man" -DOUT=man/lmsd.8 [-DGZIP=ON] -P capture_stdout.cmake
#
# GZIP=ON also writes OUT.gz (gzip -9n: no name or time in it, so the same
# page makes the same bytes), the form Debian installs man pages in.
if(NOT CMD OR NOT OUT)
  message(FATAL_ERROR "capture_stdout.cmake: set CMD and OUT")
endif()
get_filename_component(dir "${OUT}" DIRECTORY)
file(MAKE_DIRECTORY "${dir}")
execute_process(COMMAND ${CMD} OUTPUT_FILE "${OUT}.tmp" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE "${OUT}.tmp")
  message(FATAL_ERROR "${CMD}: exit ${rc}; ${OUT} not written")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")
if(GZIP)
  execute_process(COMMAND gzip -9nc "${OUT}" OUTPUT_FILE "${OUT}.gz.tmp" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    file(REMOVE "${OUT}.gz.tmp")
    message(FATAL_ERROR "gzip ${OUT}: exit ${rc}")
  endif()
  file(RENAME "${OUT}.gz.tmp" "${OUT}.gz")
endif()
