// verify.go - checks the signature of a webhook from binhook, in a receiver.
//
// Copy VerifyStandardWebhook and VerifyGitHub into your receiver (Go 1.18+,
// standard library only). Verify the body exactly as it arrived, before
// decoding it: JSON decoded and encoded again is not the same bytes.
//
//	func hook(w http.ResponseWriter, r *http.Request) {
//		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
//		if err != nil { ... }
//		if err := VerifyStandardWebhook(os.Getenv("WEBHOOK_SECRET"), r.Header, body, time.Now()); err != nil {
//			http.Error(w, err.Error(), http.StatusUnauthorized)
//			return
//		}
//		// json.Unmarshal(body, &event); dedupe on r.Header.Get("webhook-id")
//	}
//
// Standard Webhooks (binhook's signing = "standard-webhooks", the default):
// the headers webhook-id, webhook-timestamp and webhook-signature, the last
// holding "v1,<base64 HMAC-SHA256 of id.timestamp.body>", several of them
// separated by spaces while secrets are rotated; the secret is "whsec_" and
// the base64 of the key. A timestamp more than 5 minutes away from now is
// refused, so that a captured request cannot be replayed later.
//
// GitHub style (signing = "github"): X-Hub-Signature-256: sha256=<hex
// HMAC-SHA256 of the body>, the secret used as written. It has no
// timestamp: dedupe on webhook-id to refuse replays.
//
// As a program it checks test vectors and requests (exit status 0 when
// every check passed, 1 when one failed, 2 on a usage error):
//
//	go run verify.go vectors signing-vectors.json
//	binhook test --json --event change.json | WEBHOOK_SECRET=whsec_... GITHUB_SECRET=... go run verify.go requests
package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Tolerance is the most a signature's timestamp may be away from now.
const Tolerance = 5 * time.Minute

// VerificationError is what the two functions below return when a request
// is not signed with the secret, or not now.
type VerificationError struct{ Reason string }

func (e *VerificationError) Error() string { return e.Reason }

func fail(format string, args ...interface{}) error {
	return &VerificationError{fmt.Sprintf(format, args...)}
}

// VerifyStandardWebhook returns nil when one of the v1 signatures in header
// is the HMAC of the request with secret ("whsec_..." or the bare base64 of
// the key) and its timestamp is within Tolerance of now; a *VerificationError
// otherwise. body is the raw request body.
func VerifyStandardWebhook(secret string, header http.Header, body []byte, now time.Time) error {
	id := header.Get("webhook-id")
	stamp := header.Get("webhook-timestamp")
	signatures := header.Get("webhook-signature")
	if id == "" || stamp == "" || signatures == "" {
		return fail("missing webhook-id, webhook-timestamp or webhook-signature header")
	}
	secs, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil || secs < 0 || strings.HasPrefix(stamp, "+") {
		return fail("webhook-timestamp is not a number of seconds: %q", stamp)
	}
	if d := now.Sub(time.Unix(secs, 0)); d > Tolerance || d < -Tolerance {
		return fail("webhook-timestamp %s is more than %.0f s away from now (%d)", stamp, Tolerance.Seconds(),
			now.Unix())
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return fail("the secret is not 'whsec_' followed by base64")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + stamp + "."))
	mac.Write(body)
	expected := []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	for _, candidate := range strings.Split(signatures, " ") {
		version, sig, found := strings.Cut(candidate, ",")
		// Other versions (v1a: ed25519) are not HMACs: skip them.
		if found && version == "v1" && hmac.Equal([]byte(sig), expected) {
			return nil
		}
	}
	return fail("no v1 signature in webhook-signature matches")
}

// VerifyGitHub returns nil when X-Hub-Signature-256 is "sha256=" and the hex
// HMAC-SHA256 of body with secret (used as written); a *VerificationError
// otherwise.
func VerifyGitHub(secret string, header http.Header, body []byte) error {
	got := header.Get("X-Hub-Signature-256")
	if !strings.HasPrefix(got, "sha256=") {
		return fail("missing X-Hub-Signature-256: sha256=... header")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal([]byte(got), []byte("sha256="+hex.EncodeToString(mac.Sum(nil)))) {
		return fail("X-Hub-Signature-256 does not match")
	}
	return nil
}

// ---- the program: test vectors and `binhook test --json` requests ----

type checks struct{ failed int }

func (c *checks) expect(ok bool, what, why string) {
	if ok {
		fmt.Println("ok - " + what)
		return
	}
	c.failed++
	if why != "" {
		what += ": " + why
	}
	fmt.Println("not ok - " + what)
}

func (c *checks) accepts(what string, err error) {
	if err != nil {
		c.expect(false, what, err.Error())
	} else {
		c.expect(true, what, "")
	}
}

func (c *checks) refuses(what string, err error) {
	var v *VerificationError
	c.expect(errors.As(err, &v), what, "accepted")
}

func headerOf(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

func checkVectors(path string, c *checks) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var vectors struct {
		StandardWebhooks []struct {
			Secret    string `json:"secret"`
			MsgID     string `json:"msg_id"`
			Timestamp int64  `json:"timestamp"`
			Payload   string `json:"payload"`
			Expected  string `json:"expected_signature_header"`
		} `json:"standard_webhooks"`
		GitHub []struct {
			Secret   string `json:"secret"`
			Payload  string `json:"payload"`
			Expected string `json:"expected_header"`
		} `json:"github_x_hub_signature_256"`
	}
	if err := json.Unmarshal(data, &vectors); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for i, v := range vectors.StandardWebhooks {
		if !strings.HasPrefix(v.Expected, "v1,") {
			fmt.Printf("skip - standard_webhooks[%d]: %s is not an HMAC signature\n", i,
				strings.SplitN(v.Expected, ",", 2)[0])
			continue
		}
		fields := map[string]string{"webhook-id": v.MsgID, "webhook-timestamp": strconv.FormatInt(v.Timestamp, 10),
			"webhook-signature": v.Expected}
		h := headerOf(fields)
		ts := time.Unix(v.Timestamp, 0)
		body := []byte(v.Payload)
		name := fmt.Sprintf("standard_webhooks[%d]", i)
		other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another key of 24 bytes."))
		several := headerOf(fields)
		several.Set("webhook-signature", "v1,bm90IGl0 v1a,bm90IGl0IGVpdGhlcg== "+v.Expected)
		otherID := headerOf(fields)
		otherID.Set("webhook-id", v.MsgID+"x")
		c.accepts(name+": the expected signature verifies", VerifyStandardWebhook(v.Secret, h, body, ts))
		c.accepts(name+": among other signatures too", VerifyStandardWebhook(v.Secret, several, body, ts))
		c.accepts(name+": 5 minutes later", VerifyStandardWebhook(v.Secret, h, body, ts.Add(Tolerance)))
		c.refuses(name+": a changed body is refused", VerifyStandardWebhook(v.Secret, h, append(body, ' '), ts))
		c.refuses(name+": another id is refused", VerifyStandardWebhook(v.Secret, otherID, body, ts))
		c.refuses(name+": more than 5 minutes later is refused",
			VerifyStandardWebhook(v.Secret, h, body, ts.Add(Tolerance+time.Second)))
		c.refuses(name+": more than 5 minutes earlier is refused",
			VerifyStandardWebhook(v.Secret, h, body, ts.Add(-Tolerance-time.Second)))
		c.refuses(name+": another secret is refused", VerifyStandardWebhook(other, h, body, ts))
	}
	for i, v := range vectors.GitHub {
		h := headerOf(map[string]string{"X-Hub-Signature-256": v.Expected})
		bare := headerOf(map[string]string{"X-Hub-Signature-256": strings.TrimPrefix(v.Expected, "sha256=")})
		body := []byte(v.Payload)
		name := fmt.Sprintf("github_x_hub_signature_256[%d]", i)
		c.accepts(name+": the expected signature verifies", VerifyGitHub(v.Secret, h, body))
		c.refuses(name+": a changed body is refused", VerifyGitHub(v.Secret, h, append(body, ' ')))
		c.refuses(name+": another secret is refused", VerifyGitHub(v.Secret+"x", h, body))
		c.refuses(name+": a header without sha256= is refused", VerifyGitHub(v.Secret, bare, body))
	}
	return nil
}

func checkRequests(now time.Time, c *checks) error {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; in.Scan(); n++ {
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		var q struct {
			Endpoint string            `json:"endpoint"`
			ID       string            `json:"id"`
			Headers  map[string]string `json:"headers"`
			MailFrom *string           `json:"mail_from"`
			Body     string            `json:"body"`
		}
		if err := json.Unmarshal([]byte(line), &q); err != nil {
			return fmt.Errorf("request %d: %w", n, err)
		}
		what := fmt.Sprintf("request %d (%s %s)", n, q.Endpoint, q.ID)
		if q.Headers == nil || q.MailFrom != nil {
			fmt.Printf("skip - %s: not an HTTP request\n", what)
			continue
		}
		h := headerOf(q.Headers)
		switch {
		case h.Get("webhook-signature") != "":
			c.accepts(what, VerifyStandardWebhook(os.Getenv("WEBHOOK_SECRET"), h, []byte(q.Body), now))
		case h.Get("X-Hub-Signature-256") != "":
			c.accepts(what, VerifyGitHub(os.Getenv("GITHUB_SECRET"), h, []byte(q.Body)))
		default:
			c.expect(false, what, "no signature header")
		}
	}
	return in.Err()
}

func main() {
	args := os.Args[1:]
	var c checks
	var err error
	switch {
	case len(args) == 2 && args[0] == "vectors":
		err = checkVectors(args[1], &c)
	case len(args) >= 1 && args[0] == "requests" && (len(args) == 1 || (len(args) == 3 && args[1] == "--now")):
		now := time.Now()
		if len(args) == 3 {
			secs, perr := strconv.ParseInt(args[2], 10, 64)
			if perr != nil {
				fmt.Fprintf(os.Stderr, "verify.go: --now takes seconds since the epoch, not %q\n", args[2])
				os.Exit(2)
			}
			now = time.Unix(secs, 0)
		}
		err = checkRequests(now, &c)
	default:
		fmt.Fprint(os.Stderr, "usage: verify vectors FILE\n"+
			"       verify requests [--now SECONDS] < REQUESTS   (binhook test --json output;\n"+
			"       secrets in WEBHOOK_SECRET and GITHUB_SECRET)\n")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "verify.go: %v\n", err)
		os.Exit(1)
	}
	if c.failed > 0 {
		os.Exit(1)
	}
}
