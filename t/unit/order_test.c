/* order_test.c - delivery order by key: one at a time per key, in order;
 * keys independent; the map stays right through growth and deletions
 * (checked against a simple model with random operations). */
#include "tap.h"
#include "deliver/order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int freed;
static void count_free(void *arg, void *item)
{
  (void)arg, (void)item;
  freed++;
}

static void test_basics(void)
{
  struct order *o = order_new();
  int a = 1, b = 2, c = 3, d = 4;
  is_int(order_push(o, "k1", 2, &a), 1, "the first item of a key may go");
  is_int(order_push(o, "k1", 2, &b), 0, "the second waits");
  is_int(order_push(o, "k2", 2, &c), 1, "another key does not wait");
  is_int(order_push(o, "k1", 2, &d), 0, "the third waits");
  is_int((int)order_waiting(o), 2, "two wait");
  ok(order_pop(o, "k1", 2) == &b, "after the first, the second");
  ok(order_pop(o, "k1", 2) == &d, "then the third");
  ok(order_pop(o, "k1", 2) == NULL, "then none");
  is_int(order_push(o, "k1", 2, &a), 1, "an emptied key starts afresh");
  is_int(order_push(o, "k\0x", 3, &a), 1, "keys are bytes: a NUL inside counts");
  is_int(order_push(o, "k", 1, &b), 1, "  and a prefix is another key");
  ok(order_pop(o, "nope", 4) == NULL, "popping an unknown key gives nothing");
  freed = 0;
  order_free(o, count_free, NULL);
  is_int(freed, 4, "order_free hands back every item held (k1, k2, k\\0x, k)");
}

/* Random pushes and pops on 300 keys, against arrays of expected queues. */
static void test_model(void)
{
  enum { KEYS = 300, OPS = 200000 };
  static int queue[KEYS][64];
  static int len[KEYS];
  static int ids[OPS];
  struct order *o = order_new();
  srand(42);
  int bad = 0, next = 0;
  size_t waiting = 0;
  for (int op = 0; op < OPS && !bad; op++) {
    int k = rand() % KEYS;
    char key[16];
    int kn = snprintf(key, sizeof key, "key-%d", k);
    if (rand() % 2 && len[k] < 64) {
      ids[next] = next;
      int first = order_push(o, key, (size_t)kn, &ids[next]);
      if (first != (len[k] == 0)) bad = 1;
      if (len[k]) waiting++;
      queue[k][len[k]++] = next++;
    } else if (len[k]) {
      int *got = order_pop(o, key, (size_t)kn);
      memmove(queue[k], queue[k] + 1, (size_t)(len[k] - 1) * sizeof queue[k][0]);
      len[k]--;
      if (len[k]) {
        waiting--;
        if (!got || *got != queue[k][0]) bad = 1;
      } else if (got) {
        bad = 1;
      }
    }
    if (order_waiting(o) != waiting) bad = 1;
  }
  ok(!bad, "200,000 random operations on 300 keys agree with the model");
  freed = 0;
  order_free(o, count_free, NULL);
  int held = 0;
  for (int k = 0; k < KEYS; k++)
    held += len[k];
  is_int(freed, held, "order_free hands back what the model still holds");
}

int main(void)
{
  test_basics();
  test_model();
  return done_testing();
}
