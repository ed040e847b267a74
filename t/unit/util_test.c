/* util_test.c - the shared helpers of gateway/util/ that have no unit test
 * of their own: the typo suggester behind every "did you mean" message
 * (util.h) and the length-prefixed field codec of the stored requests and
 * the retry queue (lpcodec.h). */
#include "util/util.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static const char *const keys[] = {"table", "when", "secret", "endpoints", "update", NULL};

static const char *near_within(const char *word, size_t max_edits, int fold_case)
{
  return bh_nearest_within(word, strlen(word), keys, max_edits, fold_case);
}

static void test_nearest(void)
{
  /* bh_nearest: 1 edit up to 3 characters, 2 up to 6, 3 beyond */
  is_str(bh_nearest("tabel", keys), "table", "a transposition is one edit");
  is_str(bh_nearest("whne", keys), "when", "a transposition in a short word");
  is_str(bh_nearest("TABLE", keys), "table", "case is ignored");
  is_str(bh_nearest("wen", keys), "when", "3 characters: one edit is enough");
  is_str(bh_nearest("wn", keys), NULL, "3 characters or fewer: two edits are too many");
  is_str(bh_nearest("sxcrxt", keys), "secret", "up to 6 characters: two edits");
  is_str(bh_nearest("sxxrxt", keys), NULL, "up to 6 characters: three edits are too many");
  is_str(bh_nearest("enxxoixts", keys), "endpoints", "beyond 6 characters: three edits");
  is_str(bh_nearest("enxxoixxs", keys), NULL, "beyond 6 characters: four edits are too many");
  is_str(bh_nearest("xyzzy", keys), NULL, "nothing close: NULL");
  is_str(bh_nearest("", (const char *const[]){NULL}), NULL, "an empty list: NULL");

  /* bh_nearest_within: the threshold and the case are the caller's */
  is_str(near_within("tabel", 1, 0), "table", "within 1: a transposition");
  is_str(near_within("tble", 1, 0), "table", "within 1: a deletion");
  is_str(near_within("tbe", 1, 0), NULL, "within 1: two deletions are too many");
  is_str(near_within("tbe", 2, 0), "table", "within 2: two deletions");
  is_str(near_within("TABLE", 1, 0), NULL, "case counts without fold_case");
  is_str(near_within("TABLE", 0, 1), "table", "with fold_case, within 0: only case differs");
  is_str(near_within("table", 0, 0), "table", "within 0: the word itself");
  is_str(near_within("TaLbe", 1, 1), "table",
         "with fold_case, a transposition that differs in case is one edit");
  is_str(bh_nearest_within("tablexyz", 5, keys, 0, 0), "table", "n bytes of word, not its NUL");
  is_str(bh_nearest_within("abc", 3, (const char *const[]){"abd", "abe", NULL}, 1, 0), "abd",
         "of equally close words the first wins");
  char longw[40];
  memset(longw, 'a', 33);
  longw[33] = 0;
  const char *const longk[] = {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 33 */, NULL};
  is_str(bh_nearest_within(longw, 33, longk, 3, 0), NULL, "words beyond 32 bytes have no near word");
  is_str(bh_nearest_within(longw, 32, (const char *const[]){"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", NULL}, 1, 0),
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "32 bytes are still compared");
}

int main(void)
{
  test_nearest();
  return done_testing();
}
