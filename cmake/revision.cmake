# Writes OUT with the checkout's git revision (`git describe --always --dirty`),
# rewriting it only when the revision changed, so that `rz --version` names the
# build's source without recompiling on every build. Run by the rz_revision target.
execute_process(COMMAND git describe --always --dirty --abbrev=12
                WORKING_DIRECTORY "${SRC}" OUTPUT_VARIABLE revision OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET RESULT_VARIABLE failed)
if(failed OR revision STREQUAL "")
  set(revision "unknown") # a source tarball, or no git
endif()
set(text "#define RZ_GIT_REVISION \"${revision}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
