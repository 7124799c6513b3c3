# cmake -DIN=<file> -DOUT=<file.c> -DSYM=<name> -P embed.cmake
# Writes a C file defining `const unsigned char SYM[]` and `const size_t SYM_len`.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE "${OUT}" "/* Generated from ${IN} by cmake/embed.cmake; do not edit. */\n"
    "#include <stddef.h>\n"
    "const unsigned char ${SYM}[] = {${body}};\n"
    "const size_t ${SYM}_len = ${len};\n")
