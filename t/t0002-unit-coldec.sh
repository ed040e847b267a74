#!/usr/bin/env bash
# Column values from row images (gateway/coldec.h): binary DECIMAL, TIME2,
# DATETIME2 and TIMESTAMP2 at every precision, integers, ENUM/SET/BIT,
# strings and charsets, WKB to WKT, partial and truncated row images: the C
# unit test t/unit/coldec_test.c.
. "$(dirname "$0")/lib/test-lib.sh"
run_unit coldec_test
