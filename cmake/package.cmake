# A Debian package (`cpack -G DEB` in the build directory): rz, the library,
# header, pkg-config file and the rz-serve systemd unit under /usr, with
# dependencies computed by dpkg-shlibdeps and an ldconfig trigger.
install(FILES packaging/rz-serve.service DESTINATION lib/systemd/system)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ryzanstein)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Ryzanstein maintainers <maintainers@ryzanstein.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "CPU-first LLM inference engine with an OpenAI-compatible server")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
include(CPack)
