// wsload: the WebSocket side of `scripts/bench send`, in Go so that the load generator
// does not compete with the server for the machine's two cores the way a Python client
// does (receiving 10,000 frames/s in Python takes a whole core).
//
// It reads one JSON job on stdin, prepared by scripts/bench_send.py (teams, users and
// chats are made there, through the REST API), runs it, and prints one JSON result.
//
//	{"mode": "throughput", "ws_url", "seconds", "warmup", "window",
//	 "replies", "reactions", "mentions", "senders": [{"chat_id", "token", "mention"}]}
//	  -> {"acked", "acked_per_s", "errors", "replies", "reactions"}
//	  ("replies": the share of sends that reply in a thread; "reactions": the share of
//	  frames that react or unreact to one of the sender's recent messages instead of
//	  sending; "mentions": the share of sends that @mention the sender's "mention", a
//	  member of its chat; "acked" counts every answered frame of the mix)
//	{"mode": "latency", "ws_url", "seconds", "warmup", "rate",
//	 "chats": [{"chat_id", "tokens": [sender, member, ...]}]}
//	  -> {"delivered", "delivered_per_s", "p50_ms", "p99_ms", "mean_ms", "errors"}
//	{"mode": "soak", same fields as latency}: the latency load held for "seconds" (every
//	  token its own connection); prints "ready" on stderr once every connection is open
//	  and "end" when sending stops (scripts/bench_soak.py samples the server's RSS then)
//	  -> {"delivered", "errors", "closed", "minutes": [{"minute", "delivered", "p50_ms", "p99_ms"}]}
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

type job struct {
	Mode      string  `json:"mode"`
	WSURL     string  `json:"ws_url"`
	Seconds   float64 `json:"seconds"`
	Warmup    float64 `json:"warmup"`
	Window    int     `json:"window"`
	Rate      float64 `json:"rate"`
	Replies   float64 `json:"replies"`
	Reactions float64 `json:"reactions"`
	Mentions  float64 `json:"mentions"`
	Senders   []struct {
		ChatID  string `json:"chat_id"`
		Token   string `json:"token"`
		Mention string `json:"mention"`
	} `json:"senders"`
	Chats []struct {
		ChatID string   `json:"chat_id"`
		Tokens []string `json:"tokens"`
	} `json:"chats"`
}

type frame struct {
	Type    string `json:"type"`
	Message *struct {
		ID   string `json:"id"`
		Body string `json:"body"`
	} `json:"message"`
}

// delivered reads one received frame: the send time stamped at the start of a delivered
// message's body (ok), or whether the frame is an error.
func delivered(data []byte) (sent int64, isError bool, ok bool) {
	var f frame
	if json.Unmarshal(data, &f) != nil {
		return 0, false, false
	}
	if f.Type != "message" || f.Message == nil {
		return 0, f.Type == "error", false
	}
	stamp, _, _ := strings.Cut(f.Message.Body, " ")
	sent, err := strconv.ParseInt(stamp, 10, 64)
	return sent, false, err == nil
}

var words = strings.Fields("deploy build release ticket review merge branch the a to we it is on " +
	"for server latency cache index query lunch meeting tomorrow today ok thanks")

func bodyText(i int) string {
	parts := make([]string, 0, 18)
	for j := 0; j < 8+i%10; j++ {
		parts = append(parts, words[(i*7+j*3)%len(words)])
	}
	return strings.Join(parts, " ")
}

// teamOf is the team id a token starts with ("<team id>.<secret>"), or "" for older
// tokens: behind the scale-out proxy, /ws?team=<id> routes the connection to its team's
// instance (docs/protocol.md, "Scale-out").
func teamOf(token string) string {
	head, _, found := strings.Cut(token, ".")
	if !found || head == "" || strings.Trim(head, "0123456789") != "" {
		return ""
	}
	return head
}

func dial(url, token string) *websocket.Conn {
	if team := teamOf(token); team != "" && !strings.Contains(url, "?") {
		url += "?team=" + team
	}
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		fail("dial: %v", err)
	}
	auth, _ := json.Marshal(map[string]string{"type": "auth", "token": token})
	if err := conn.WriteMessage(websocket.TextMessage, auth); err != nil {
		fail("auth: %v", err)
	}
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			fail("waiting for ready: %v", err)
		}
		var f frame
		if json.Unmarshal(data, &f) == nil && f.Type == "ready" {
			return conn
		}
	}
}

var counter atomic.Int64

func sendFrame(conn *websocket.Conn, chatID, body string) error {
	n := counter.Add(1)
	data, _ := json.Marshal(map[string]string{"type": "send", "chat_id": chatID, "body": body,
		"client_msg_id": fmt.Sprintf("w%d-%d", os.Getpid(), n), "ref": strconv.FormatInt(n, 10)})
	return conn.WriteMessage(websocket.TextMessage, data)
}

var reactionEmoji = []string{"\U0001F389", "\u2764\uFE0F", "\U0001F440", "\U0001F602", "\U0001F44D",
	"\U0001F64F", "\U0001F680", "\U0001F44D\U0001F3FD"}

// mixer picks each next frame of one sender: a send, a reply in a thread, or a reaction
// toggled on one of its recent messages. Its state is touched by the sender's two
// goroutines (the reader records acked ids), hence the lock.
type mixer struct {
	mu                             sync.Mutex
	recent                         []string        // acked message ids, newest last (at most 64)
	reacted                        map[string]bool // "id emoji" the sender reacted with
	seed                           uint64
	replies, reactions, mentions   float64
	mention                        string // a member of the sender's chat
	nReplies, nReactions, nMention atomic.Int64
}

func (m *mixer) random() float64 { // xorshift: cheap and goroutine-local under the lock
	m.seed ^= m.seed << 13
	m.seed ^= m.seed >> 7
	m.seed ^= m.seed << 17
	return float64(m.seed%1_000_000) / 1_000_000
}

func (m *mixer) acked(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recent = append(m.recent, id)
	if len(m.recent) > 64 {
		m.recent = m.recent[1:]
	}
}

func (m *mixer) next(chatID string, i int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := counter.Add(1)
	ref := strconv.FormatInt(n, 10)
	r := m.random()
	if len(m.recent) > 0 && r < m.reactions {
		id := m.recent[int(m.random()*float64(len(m.recent)))]
		emoji := reactionEmoji[int(m.random()*float64(len(reactionEmoji)))]
		key := id + " " + emoji
		kind := "react"
		if m.reacted[key] {
			kind = "unreact"
		}
		m.reacted[key] = !m.reacted[key]
		m.nReactions.Add(1)
		data, _ := json.Marshal(map[string]string{"type": kind, "message_id": id, "emoji": emoji, "ref": ref})
		return data
	}
	body := bodyText(i)
	if m.mentions > 0 && m.random() < m.mentions {
		body = "@" + m.mention + " " + body
		m.nMention.Add(1)
	}
	f := map[string]any{"type": "send", "chat_id": chatID, "body": body,
		"client_msg_id": fmt.Sprintf("w%d-%d", os.Getpid(), n), "ref": ref}
	if len(m.recent) > 0 && r < m.reactions+m.replies {
		f["thread_id"] = m.recent[0] // the oldest recent message: a long-lived thread
		m.nReplies.Add(1)
	}
	data, _ := json.Marshal(f)
	return data
}

func throughput(j job) map[string]any {
	var acked, errors, lost atomic.Int64
	var measuring atomic.Bool
	stop := time.Now().Add(time.Duration((j.Warmup + j.Seconds) * float64(time.Second)))
	var wg sync.WaitGroup
	var mixers []*mixer
	for si, s := range j.Senders {
		conn := dial(j.WSURL, s.Token)
		slots := make(chan struct{}, j.Window)
		mix := &mixer{reacted: map[string]bool{}, seed: uint64(si)*2654435761 + 1,
			replies: j.Replies, reactions: j.Reactions, mentions: j.Mentions, mention: s.Mention}
		mixers = append(mixers, mix)
		go func() { // reader: an ack, an ok or an error frees a slot
			for {
				_, data, err := conn.ReadMessage()
				if err != nil {
					if time.Now().Before(stop) {
						lost.Add(1)
					}
					return
				}
				var f frame
				if json.Unmarshal(data, &f) != nil {
					continue
				}
				if f.Type == "ack" && f.Message != nil && (j.Replies > 0 || j.Reactions > 0) {
					mix.acked(f.Message.ID)
				}
				if f.Type == "ack" || f.Type == "ok" || f.Type == "error" {
					if measuring.Load() {
						if f.Type != "error" {
							acked.Add(1)
						} else {
							errors.Add(1)
						}
					}
					<-slots
				}
			}
		}()
		wg.Add(1)
		go func(chatID string) {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				select { // a connection the server closed frees no slot: do not wait past the end
				case slots <- struct{}{}:
				case <-time.After(time.Until(stop)):
					return
				}
				if conn.WriteMessage(websocket.TextMessage, mix.next(chatID, i)) != nil {
					return
				}
			}
		}(s.ChatID)
	}
	time.Sleep(time.Duration(j.Warmup * float64(time.Second)))
	measuring.Store(true)
	start := time.Now()
	wg.Wait()
	time.Sleep(500 * time.Millisecond) // the last acks
	measuring.Store(false)
	elapsed := time.Since(start).Seconds()
	var replies, reactions, mentions int64
	for _, m := range mixers {
		replies += m.nReplies.Load()
		reactions += m.nReactions.Load()
		mentions += m.nMention.Load()
	}
	return map[string]any{"acked": acked.Load(), "acked_per_s": float64(acked.Load()) / elapsed,
		"errors": errors.Load(), "lost_connections": lost.Load(), "replies": replies, "reactions": reactions, "mentions": mentions}
}

func latency(j job) map[string]any {
	var mu sync.Mutex
	samples := make([]float64, 0, 1<<16)
	var measuring atomic.Bool
	var errors atomic.Int64
	senders := make([]*websocket.Conn, len(j.Chats))
	for ci, chat := range j.Chats {
		for ti, token := range chat.Tokens {
			conn := dial(j.WSURL, token)
			if ti == 0 {
				senders[ci] = conn
			}
			go func() {
				for {
					_, data, err := conn.ReadMessage()
					if err != nil {
						return
					}
					now := time.Now().UnixNano()
					sent, isError, ok := delivered(data)
					if isError {
						errors.Add(1)
					}
					if !ok || !measuring.Load() {
						continue
					}
					mu.Lock()
					samples = append(samples, float64(now-sent)/1e6)
					mu.Unlock()
				}
			}()
		}
	}
	// Each chat's sender sends every `interval`; the chats are staggered across it.
	interval := time.Duration(float64(len(j.Chats)) / j.Rate * float64(time.Second))
	stop := time.Now().Add(time.Duration((j.Warmup + j.Seconds) * float64(time.Second)))
	var wg sync.WaitGroup
	for ci, chat := range j.Chats {
		wg.Add(1)
		go func(conn *websocket.Conn, chatID string, offset time.Duration) {
			defer wg.Done()
			time.Sleep(offset)
			start := time.Now()
			for n := 1; time.Now().Before(stop); n++ {
				body := strconv.FormatInt(time.Now().UnixNano(), 10) + " " + bodyText(n)
				if sendFrame(conn, chatID, body) != nil {
					return
				}
				time.Sleep(time.Until(start.Add(time.Duration(n) * interval)))
			}
		}(senders[ci], chat.ChatID, time.Duration(ci)*interval/time.Duration(len(j.Chats)))
	}
	time.Sleep(time.Duration(j.Warmup * float64(time.Second)))
	measuring.Store(true)
	wg.Wait()
	time.Sleep(500 * time.Millisecond)
	measuring.Store(false)
	mu.Lock()
	defer mu.Unlock()
	sort.Float64s(samples)
	pct := func(p float64) float64 {
		if len(samples) == 0 {
			return -1
		}
		return samples[int(p/100*float64(len(samples)-1)+0.5)]
	}
	sum := 0.0
	for _, s := range samples {
		sum += s
	}
	mean := -1.0
	if len(samples) > 0 {
		mean = sum / float64(len(samples))
	}
	return map[string]any{"delivered": len(samples), "delivered_per_s": float64(len(samples)) / j.Seconds,
		"p50_ms": pct(50), "p99_ms": pct(99), "mean_ms": mean, "errors": errors.Load()}
}

// soak holds the latency load for a long run and reports p99 per minute, errors (error
// frames) and connections the server closed.
func soak(j job) map[string]any {
	var mu sync.Mutex
	perMinute := map[int][]float64{}
	var measuring atomic.Bool
	var errors, closed atomic.Int64
	var begin atomic.Int64
	senders := make([]*websocket.Conn, len(j.Chats))
	var conns []*websocket.Conn
	for ci, chat := range j.Chats {
		for ti, token := range chat.Tokens {
			conn := dial(j.WSURL, token)
			conns = append(conns, conn)
			if ti == 0 {
				senders[ci] = conn
			} else {
				// Members only read: ping like a real client (protocol 4.2), or the
				// server's heartbeat timeout closes them after 60 s of silence.
				go func() {
					ping := []byte(`{"type":"ping"}`)
					for {
						time.Sleep(20 * time.Second)
						if conn.WriteMessage(websocket.TextMessage, ping) != nil {
							return
						}
					}
				}()
			}
			go func() {
				for {
					_, data, err := conn.ReadMessage()
					if err != nil {
						if measuring.Load() {
							closed.Add(1)
						}
						return
					}
					now := time.Now().UnixNano()
					sent, isError, ok := delivered(data)
					if isError {
						errors.Add(1)
					}
					if !ok || !measuring.Load() {
						continue
					}
					minute := int((sent - begin.Load()) / int64(time.Minute))
					mu.Lock()
					perMinute[minute] = append(perMinute[minute], float64(now-sent)/1e6)
					mu.Unlock()
				}
			}()
		}
	}
	fmt.Fprintln(os.Stderr, "ready")
	interval := time.Duration(float64(len(j.Chats)) / j.Rate * float64(time.Second))
	begin.Store(time.Now().Add(time.Duration(j.Warmup * float64(time.Second))).UnixNano())
	stop := time.Now().Add(time.Duration((j.Warmup + j.Seconds) * float64(time.Second)))
	var wg sync.WaitGroup
	for ci, chat := range j.Chats {
		wg.Add(1)
		go func(conn *websocket.Conn, chatID string, offset time.Duration) {
			defer wg.Done()
			time.Sleep(offset)
			start := time.Now()
			for n := 1; time.Now().Before(stop); n++ {
				body := strconv.FormatInt(time.Now().UnixNano(), 10) + " " + bodyText(n)
				if sendFrame(conn, chatID, body) != nil {
					errors.Add(1)
					return
				}
				time.Sleep(time.Until(start.Add(time.Duration(n) * interval)))
			}
		}(senders[ci], chat.ChatID, time.Duration(ci)*interval/time.Duration(len(j.Chats)))
	}
	time.Sleep(time.Duration(j.Warmup * float64(time.Second)))
	measuring.Store(true)
	wg.Wait()
	time.Sleep(500 * time.Millisecond)
	fmt.Fprintln(os.Stderr, "end")
	measuring.Store(false)
	mu.Lock()
	defer mu.Unlock()
	minutes := []map[string]any{}
	delivered := 0
	for m := 0; m <= int(j.Seconds/60); m++ {
		samples := perMinute[m]
		if len(samples) == 0 {
			continue
		}
		sort.Float64s(samples)
		pct := func(p float64) float64 { return samples[int(p/100*float64(len(samples)-1)+0.5)] }
		delivered += len(samples)
		minutes = append(minutes, map[string]any{"minute": m + 1, "delivered": len(samples),
			"p50_ms": pct(50), "p99_ms": pct(99)})
	}
	for _, c := range conns {
		c.Close()
	}
	return map[string]any{"delivered": delivered, "errors": errors.Load(), "closed": closed.Load(),
		"minutes": minutes}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "wsload: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	var j job
	if err := json.NewDecoder(os.Stdin).Decode(&j); err != nil {
		fail("bad job on stdin: %v", err)
	}
	var result map[string]any
	switch j.Mode {
	case "throughput":
		result = throughput(j)
	case "latency":
		result = latency(j)
	case "soak":
		result = soak(j)
	default:
		fail("unknown mode %q", j.Mode)
	}
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
}
