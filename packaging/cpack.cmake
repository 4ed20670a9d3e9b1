# SPDX-License-Identifier: MIT
# Debian packages, built by `cpack -G DEB` in a build configured for them
# (scripts/package does both):
#   lms-server   lmsd, the plugins, /etc/lms/lmsd.yaml (a conffile), the
#                systemd units, lmsd(8), lmsd.yaml(5); postinst adds the
#                system user lms and /var/lib/lms
#   lms-clients  lms-student, lms-instructor, lms-admin, their man pages and
#                bash/zsh completion
#   lms-dev      the plugin SDK: headers, lms-plugin.pc, the CMake package
#                (find_package(lms), lms_add_plugin()), lms-plugin-check and
#                the example plugin's sources
# Each install() of the tree names its COMPONENT: server, clients or dev.
# The dependencies on Debian's libraries come from dpkg-shlibdeps, so they
# are what the binaries really link.

set(CPACK_PACKAGE_NAME lms)
set(CPACK_PACKAGE_VENDOR "lms developers")
set(CPACK_PACKAGE_CONTACT "lms developers <lms@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "fault-tolerant learning-management server")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server clients dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://localhost/lms")

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME lms-server)
set(CPACK_DEBIAN_SERVER_PACKAGE_SECTION net)
# procps: /bin/kill, the units' ExecReload
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS "adduser, procps")
set(CPACK_DEBIAN_SERVER_PACKAGE_RECOMMENDS "lms-clients")
set(CPACK_DEBIAN_SERVER_DESCRIPTION
    "fault-tolerant learning-management server: lmsd\n"
    "lmsd keeps courses, assignments, submissions, grades, questions and\n"
    "materials, replicated with Raft over 1 to 5 nodes, on SQLite or\n"
    "MariaDB. This package has lmsd, its plugins and the systemd units\n"
    "lmsd.service and lmsd@.service.")
set(CPACK_DEBIAN_CLIENTS_PACKAGE_NAME lms-clients)
set(CPACK_DEBIAN_CLIENTS_PACKAGE_SECTION net)
set(CPACK_DEBIAN_CLIENTS_DESCRIPTION
    "command-line clients of the lms learning-management server\n"
    "lms-student, lms-instructor and lms-admin, with man pages and bash\n"
    "and zsh completion.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME lms-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_DEV_PACKAGE_RECOMMENDS "cmake, pkgconf, gcc")
set(CPACK_DEBIAN_DEV_DESCRIPTION
    "SDK for plugins of the lms learning-management server\n"
    "The headers a storage, tutor or authentication plugin is written\n"
    "against, lms-plugin.pc, the CMake package (find_package(lms) and\n"
    "lms_add_plugin()), lms-plugin-check and an example tutor plugin.")

# The maintainer scripts, and /etc/lms/lmsd.yaml as a conffile: an admin's
# edits survive upgrades (dpkg asks when both changed).
set(LMS_DEB_CONTROL ${CMAKE_BINARY_DIR}/packaging/debian)
file(MAKE_DIRECTORY ${LMS_DEB_CONTROL})
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "cpack: packages are meant for the prefix /usr "
                 "(scripts/package); this build's is ${CMAKE_INSTALL_PREFIX}")
endif()
file(WRITE ${LMS_DEB_CONTROL}/conffiles "${LMS_CONF_INSTALL_DIR}/lmsd.yaml\n")
foreach(script postinst prerm postrm)
  file(COPY ${CMAKE_SOURCE_DIR}/packaging/debian/${script}
       DESTINATION ${LMS_DEB_CONTROL}
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
                        GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
    "${LMS_DEB_CONTROL}/conffiles;${LMS_DEB_CONTROL}/postinst;${LMS_DEB_CONTROL}/prerm;${LMS_DEB_CONTROL}/postrm")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
