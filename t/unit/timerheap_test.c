/* timerheap_test.c - the retry timers' heap (gateway/daemon/timerheap.c):
 * items come out by due time, and removing any of them keeps the order. */
#include "daemon/timerheap.h"
#include "tap.h"

#include <stdlib.h>

static void test_order(void)
{
  enum { N = 1000 };
  struct theap h = THEAP_INIT;
  static struct theap_item items[N];
  srand(7);
  for (int i = 0; i < N; i++) theap_push(&h, &items[i], (double)(rand() % 5000));
  ok(theap_has(&items[0]) && theap_has(&items[N - 1]), "pushed items are in the heap");
  /* remove every third item from wherever it is */
  for (int i = 0; i < N; i += 3) theap_remove(&h, &items[i]);
  ok(!theap_has(&items[0]), "a removed item says so");
  theap_remove(&h, &items[0]); /* twice: nothing happens */
  double last = -1;
  int sorted = 1, count = 0;
  struct theap_item *top;
  while ((top = theap_top(&h))) {
    if (top->due < last) sorted = 0;
    last = top->due;
    theap_remove(&h, top);
    count++;
  }
  ok(sorted, "the rest come out by due time");
  is_int(count, N - (N + 2) / 3, "all of the rest, once each");
  ok(theap_top(&h) == NULL, "then the heap is empty");
  theap_free(&h);
}

int main(void)
{
  test_order();
  return done_testing();
}
