/* main.c - placeholder while the CLI is written. */
#include <stdio.h>
int main(void) { puts("xmpp-edge"); return 0; }
