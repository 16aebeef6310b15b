# `cmake --install`: the rz CLI, the shared and static library, the public
# header and a pkg-config file (ryzanstein.pc).
include(GNUInstallDirs)
install(TARGETS rz RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS ryzanstein ryzanstein_static
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES include/ryzanstein.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Relocatable: the prefix is found from the .pc file's own place
# (`cmake --install --prefix DIR` may choose another than configured).
file(RELATIVE_PATH RZ_PC_TO_PREFIX "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
configure_file(cmake/ryzanstein.pc.in ryzanstein.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/ryzanstein.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
