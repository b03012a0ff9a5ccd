/* placeholder */
extern int placeholder_harness;
