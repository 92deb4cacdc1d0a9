/* hex.h - hexadecimal digits, for percent-escapes and \u escapes. */
#ifndef CS_HEX_H
#define CS_HEX_H

/* The value of one hex digit ('0'-'9', 'a'-'f', 'A'-'F'), or -1 for any other byte. */
int cs_hex_digit(int c);

#endif
