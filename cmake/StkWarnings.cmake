# The project's warning set (STYLE.md rule 38), each flag probed first
# (curl PickyWarnings.cmake).
include(CheckCCompilerFlag)

set(_stk_warnings
  -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
  -Wold-style-definition -Wformat=2 -Wvla -Wwrite-strings -Wpointer-arith
  -fno-common)

foreach(_flag IN LISTS _stk_warnings)
  string(MAKE_C_IDENTIFIER "HAVE_C${_flag}" _var)
  check_c_compiler_flag(${_flag} ${_var})
  if(${_var})
    add_compile_options(${_flag})
  endif()
endforeach()

if(MINGW)
  add_compile_definitions(__USE_MINGW_ANSI_STDIO=1)
endif()

if(STK_WERROR)
  add_compile_options(-Werror)
endif()
