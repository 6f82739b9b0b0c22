# cmake/mingw-w64-x86_64.cmake - CMake toolchain file for a MinGW-w64 cross
# build of stack.exe and its libraries on Debian (scripts/cross-windows).
# STK_WIN_DEPS (environment or -D) names the prefix holding the cross-built
# libraries; pkg-config looks only there.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(_stk_triple x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${_stk_triple}-gcc)
set(CMAKE_CXX_COMPILER ${_stk_triple}-g++)
set(CMAKE_RC_COMPILER ${_stk_triple}-windres)
set(CMAKE_AR ${_stk_triple}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${_stk_triple}-ranlib CACHE FILEPATH "")

if(NOT STK_WIN_DEPS AND DEFINED ENV{STK_WIN_DEPS})
  set(STK_WIN_DEPS $ENV{STK_WIN_DEPS})
endif()
set(CMAKE_FIND_ROOT_PATH /usr/${_stk_triple} ${STK_WIN_DEPS})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

if(STK_WIN_DEPS)
  set(ENV{PKG_CONFIG_LIBDIR} "${STK_WIN_DEPS}/lib/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
endif()
