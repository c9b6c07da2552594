# Debian packages, built by CPack (`cd build && cpack -G DEB`, or scripts/package):
#   kpd               the daemon and its compiler worker (/usr/bin), the systemd units, the
#                     sysusers.d entry (user kpd, group kp), an example /etc/kp/kpd.conf
#   libkp-client-dev  the C++ client (headers, static library, CMake package kp_client) and
#                     the .proto files (/usr/share/kp/proto) for clients in other languages
# Shared-library dependencies are found by dpkg-shlibdeps.
include(GNUInstallDirs)

install(FILES deploy/kpd.service deploy/kpd.socket
        DESTINATION lib/systemd/system COMPONENT kpd)
install(FILES deploy/sysusers.d/kpd.conf DESTINATION lib/sysusers.d COMPONENT kpd)
install(FILES deploy/kpd.conf DESTINATION /etc/kp COMPONENT kpd)
install(DIRECTORY proto/kp DESTINATION ${CMAKE_INSTALL_DATADIR}/kp/proto COMPONENT kp_client
        FILES_MATCHING PATTERN "*.proto")

set(CPACK_PACKAGE_NAME kp)
set(CPACK_PACKAGE_VENDOR "kp")
set(CPACK_PACKAGE_CONTACT "kp maintainers <kp@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "GPU compute as a service (Kompute's API over gRPC)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
set(CPACK_COMPONENTS_ALL kpd kp_client)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SECTION science)

set(CPACK_DEBIAN_KPD_PACKAGE_NAME kpd)
set(CPACK_DEBIAN_KPD_DESCRIPTION
    "kp GPU compute daemon\n kpd owns the Vulkan devices of a host and runs Kompute programs of\n local and remote clients (Python package kp, C++ client libkp-client-dev).")
set(CPACK_DEBIAN_KPD_PACKAGE_RECOMMENDS "mesa-vulkan-drivers | nvidia-vulkan-icd")
set(CPACK_DEBIAN_KPD_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_KPD_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/deploy/debian/postinst;${PROJECT_SOURCE_DIR}/deploy/debian/prerm;${PROJECT_SOURCE_DIR}/deploy/debian/postrm;${PROJECT_SOURCE_DIR}/deploy/debian/conffiles")
set(CPACK_DEBIAN_KPD_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_KP_CLIENT_PACKAGE_NAME libkp-client-dev)
set(CPACK_DEBIAN_KP_CLIENT_DESCRIPTION
    "kp C++ client (Kompute's C++ API over kpd) and the kp.v1 .proto files")
set(CPACK_DEBIAN_KP_CLIENT_PACKAGE_DEPENDS "libgrpc++-dev, libprotobuf-dev")
set(CPACK_DEBIAN_KP_CLIENT_PACKAGE_SECTION libdevel)

include(CPack)
