package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ephemera-im/ephemera/core/media"
	"github.com/ephemera-im/ephemera/core/messenger"
)

// withProfile registers a command that opens the profile, processes what
// is pending, runs f, sends what f queued and locks the profile.
func withProfile(name, args, summary string, setFlags func(fs *flag.FlagSet),
	f func(ctx context.Context, inv *invocation, m *messenger.Messenger) error) {
	register(&command{
		name: name, args: args, summary: summary,
		setFlags: func(fs *flag.FlagSet) {
			pf.set(fs)
			if setFlags != nil {
				setFlags(fs)
			}
		},
		run: func(ctx context.Context, inv *invocation) error {
			if want := positional(args); len(inv.args) != len(want) {
				return usageError("want %s", strings.Join(append(want, "(and flags)")[:max(len(want), 1)], " "))
			}
			m, err := pf.open(ctx, inv)
			if err != nil {
				return err
			}
			fctx, cancel := context.WithTimeout(ctx, pf.timeout)
			defer cancel()
			err = f(fctx, inv, m)
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("relay unreachable or not answering within %v (%w)", pf.timeout, err)
			}
			return pf.finish(ctx, m, err)
		},
	})
}

// positional returns the positional arguments of a synopsis: the words
// outside brackets.
func positional(synopsis string) []string {
	var out []string
	depth := 0
	for _, w := range strings.Fields(synopsis) {
		if strings.HasPrefix(w, "[") {
			depth++
		}
		if depth == 0 && !strings.HasPrefix(w, "-") {
			out = append(out, w)
		}
		if strings.HasSuffix(w, "]") {
			depth--
		}
	}
	if len(out) == 0 {
		return []string{}
	}
	return out
}

func nargs(inv *invocation, n int, what string) error {
	if len(inv.args) != n {
		return usageError("want %s", what)
	}
	return nil
}

// jsonMessage is a message as printed by recv and history.
type jsonMessage struct {
	ID           string              `json:"id"`
	Conversation string              `json:"conversation"`
	From         string              `json:"from"`
	Kind         string              `json:"kind"`
	Text         string              `json:"text"`
	File         *jsonFile           `json:"file"`
	SentAt       time.Time           `json:"sent_at"`
	ExpiresAt    *time.Time          `json:"expires_at"`
	BurnAfter    float64             `json:"burn_after"` // seconds; 0 if not burn-on-read
	State        messenger.State     `json:"state"`
	Previews     []messenger.Preview `json:"previews"`
}

type jsonFile struct {
	Name    string   `json:"name"`
	Size    int64    `json:"size"`
	Type    string   `json:"type"`
	Have    bool     `json:"have"`
	Removed []string `json:"removed,omitempty"`
}

func toJSON(m messenger.Message) jsonMessage {
	j := jsonMessage{ID: m.ID, Conversation: m.Conversation, From: m.From, Kind: m.Kind, Text: m.Text,
		SentAt: m.SentAt, BurnAfter: m.BurnAfter.Seconds(), State: m.State, Previews: m.Previews}
	if !m.ExpiresAt.IsZero() {
		t := m.ExpiresAt
		j.ExpiresAt = &t
	}
	if m.File != nil {
		j.File = &jsonFile{Name: m.File.Name, Size: m.File.Size, Type: m.File.Type, Have: m.File.Have, Removed: m.File.Removed}
	}
	return j
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// parseTimer reads a timer argument: a duration like 30s, 5m, 1h, 1d or
// 1w, or "off".
func parseTimer(s string) (time.Duration, error) {
	if s == "off" || s == "0" {
		return 0, nil
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			var k int
			if _, err := fmt.Sscanf(n, "%d", &k); err == nil && k > 0 && fmt.Sprint(k) == n {
				return time.Duration(k) * unit, nil
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q (use e.g. 30s, 5m, 1h, 1d, 1w or off)", s)
	}
	return d, nil
}

func init() {
	var once bool
	var expires string
	withProfile("invite", "[--once] [--expires D]", "make an invite code for a new contact (printed alone on the last line)",
		func(fs *flag.FlagSet) {
			fs.BoolVar(&once, "once", false, "the invite works for one contact only")
			fs.StringVar(&expires, "expires", "7d", "how long the invite is valid")
		},
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := nargs(inv, 0, "no arguments"); err != nil {
				return err
			}
			d, err := parseTimer(expires)
			if err != nil || d == 0 {
				return usageError("--expires: bad duration %q", expires)
			}
			i, err := m.CreateInvite(ctx, messenger.InviteOptions{OneTime: once, Expires: d})
			if err != nil {
				return err
			}
			fmt.Fprintf(inv.stdout, "Invite for %s, valid until %s%s. Give this code to your contact:\n%s\n",
				m.Pseudonym(), i.Expires.Format(time.RFC3339), map[bool]string{true: ", for one contact"}[once], i.Code)
			return nil
		})

	withProfile("accept", "CODE", "accept an invite code: the contact is added on both sides", nil,
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := nargs(inv, 1, "an invite code"); err != nil {
				return err
			}
			c, err := m.AcceptInvite(ctx, inv.args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(inv.stdout, "added %s (%s)\n", c.Name, c.ID)
			return nil
		})

	var jsonOut bool
	withProfile("contacts", "[--json]", "list contacts",
		func(fs *flag.FlagSet) { fs.BoolVar(&jsonOut, "json", false, "print JSON") },
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			cs, err := m.Contacts()
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(inv.stdout, cs)
			}
			for _, c := range cs {
				fmt.Fprintf(inv.stdout, "%s  %s  verified=%v blocked=%v", c.ID, c.Name, c.Verified, c.Blocked)
				if c.KeyChanged {
					fmt.Fprintf(inv.stdout, "  request-from=%q", c.RequestPseudonym)
				}
				if c.OldVersion {
					fmt.Fprint(inv.stdout, "  old-version")
				}
				if c.Refused != "" {
					fmt.Fprintf(inv.stdout, "  refused=%s", c.Refused)
				}
				fmt.Fprintln(inv.stdout)
			}
			return nil
		})

	var expire, burn string
	sendFlags := func(fs *flag.FlagSet) {
		fs.StringVar(&expire, "expire", "", "the message disappears this long after sending")
		fs.StringVar(&burn, "burn", "", "burn-on-read: the message disappears this long after it is first shown")
	}
	sendOpts := func() (messenger.SendOptions, error) {
		var o messenger.SendOptions
		var err error
		if expire != "" {
			if o.Expire, err = parseTimer(expire); err != nil {
				return o, usageError("--expire: %v", err)
			}
		}
		if burn != "" {
			if o.Burn, err = parseTimer(burn); err != nil {
				return o, usageError("--burn: %v", err)
			}
		}
		return o, nil
	}
	withProfile("send", "CONTACT TEXT [--expire D] [--burn D]", "send a text message", sendFlags,
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := nargs(inv, 2, "a contact and a text"); err != nil {
				return err
			}
			o, err := sendOpts()
			if err != nil {
				return err
			}
			msg, err := m.SendText(ctx, inv.args[0], inv.args[1], o)
			if err != nil {
				return err
			}
			fmt.Fprintln(inv.stdout, msg.ID)
			return nil
		})

	var asIs bool
	withProfile("send-file", "CONTACT PATH [--expire D] [--as-is]", "sanitize a file and send it",
		func(fs *flag.FlagSet) {
			sendFlags(fs)
			fs.BoolVar(&asIs, "as-is", false, "send a file of a type the sanitizer does not handle unchanged")
		},
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := nargs(inv, 2, "a contact and a file"); err != nil {
				return err
			}
			o, err := sendOpts()
			if err != nil {
				return err
			}
			msg, rep, err := m.SendFile(ctx, inv.args[0], inv.args[1], messenger.FileOptions{SendOptions: o, AsIs: asIs})
			if errors.Is(err, media.ErrUnsupported) {
				return fmt.Errorf("%v; use --as-is to send it unchanged", err)
			}
			if err != nil {
				return err
			}
			for _, it := range rep.Items {
				fmt.Fprintf(inv.stderr, "removed: %s\n", it.Label)
			}
			fmt.Fprintln(inv.stdout, msg.ID)
			return nil
		})

	var wait string
	var recvJSON bool
	register(&command{
		name: "recv", args: "[--wait D] [--json]",
		summary: "print received messages as they arrive; returns when the backlog is drained, or after D with nothing new",
		setFlags: func(fs *flag.FlagSet) {
			pf.set(fs)
			fs.StringVar(&wait, "wait", "", "keep listening until this long passes with nothing new")
			fs.BoolVar(&recvJSON, "json", false, "print one JSON object per message")
		},
		run: func(ctx context.Context, inv *invocation) error {
			if err := nargs(inv, 0, "no arguments"); err != nil {
				return err
			}
			var idle time.Duration
			if wait != "" {
				var err error
				if idle, err = time.ParseDuration(wait); err != nil {
					return usageError("--wait: %v", err)
				}
			}
			cfg, err := pf.config(inv)
			if err != nil {
				return err
			}
			m, err := messenger.Open(cfg)
			if errors.Is(err, messenger.ErrWrongPassphrase) {
				return errors.New("wrong passphrase")
			}
			if err != nil {
				return err
			}
			sub := m.Subscribe(4096)
			err = recvLoop(ctx, inv, m, sub, idle, recvJSON)
			return pf.finish(ctx, m, err)
		},
	})

	var histJSON bool
	var limit int
	withProfile("history", "CONTACT [--json] [--limit N]", "print a conversation, oldest first",
		func(fs *flag.FlagSet) {
			fs.BoolVar(&histJSON, "json", false, "print one JSON object per message")
			fs.IntVar(&limit, "limit", 1000, "at most this many of the newest messages")
		},
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := nargs(inv, 1, "a contact"); err != nil {
				return err
			}
			var all []messenger.Message
			var before uint64
			for len(all) < limit {
				page, err := m.History(inv.args[0], before, min(200, limit-len(all)))
				if err != nil {
					return err
				}
				if len(page) == 0 {
					break
				}
				all = append(all, page...)
				before = page[len(page)-1].Seq
			}
			for i := len(all) - 1; i >= 0; i-- {
				if err := printMessage(inv.stdout, all[i], histJSON); err != nil {
					return err
				}
			}
			return nil
		})

	var timerBurn bool
	withProfile("set-timer", "CONTACT D|off [--burn]", "set the conversation's disappearing-message timer (both sides see the change)",
		func(fs *flag.FlagSet) {
			fs.BoolVar(&timerBurn, "burn", false, "messages burn D after they are first shown")
		},
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := nargs(inv, 2, "a contact and a duration or off"); err != nil {
				return err
			}
			d, err := parseTimer(inv.args[1])
			if err != nil {
				return usageError("%v", err)
			}
			c, err := m.SetTimer(ctx, inv.args[0], d, timerBurn)
			if err != nil {
				return err
			}
			fmt.Fprintf(inv.stdout, "timer for %s: %v\n", c.Name, c.Timer)
			return nil
		})

	withProfile("save-file", "MESSAGE_ID PATH", "save a received file (PATH must not exist)", nil,
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := nargs(inv, 2, "a message id and a path"); err != nil {
				return err
			}
			if err := m.Download(inv.args[0]); err != nil {
				return err
			}
			if err := pf.sync(ctx, m); err != nil {
				return err
			}
			return m.SaveFile(inv.args[0], inv.args[1])
		})

	var ofRequest bool
	withProfile("safety-number", "[--request] CONTACT", "print the safety number to compare with the contact",
		func(fs *flag.FlagSet) {
			fs.BoolVar(&ofRequest, "request", false, "the safety number of the other identity that asked to take over the conversation")
		},
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := nargs(inv, 1, "a contact"); err != nil {
				return err
			}
			sn, err := m.SafetyNumber(inv.args[0])
			if ofRequest {
				sn, err = m.RequestSafetyNumber(inv.args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(inv.stdout, sn.String())
			return nil
		})

	contactAction := func(name, summary string, f func(m *messenger.Messenger, c string) (messenger.Contact, error), done string) {
		withProfile(name, "CONTACT", summary, nil,
			func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
				if err := nargs(inv, 1, "a contact"); err != nil {
					return err
				}
				c, err := f(m, inv.args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(inv.stdout, "%s %s\n", c.Name, done)
				return nil
			})
	}
	contactAction("verify", "mark a contact's safety number as checked",
		func(m *messenger.Messenger, c string) (messenger.Contact, error) { return m.SetVerified(c, true) }, "is verified")
	contactAction("block", "block a contact",
		func(m *messenger.Messenger, c string) (messenger.Contact, error) { return m.BlockContact(c, true) }, "is blocked")
	contactAction("unblock", "unblock a contact",
		func(m *messenger.Messenger, c string) (messenger.Contact, error) { return m.BlockContact(c, false) }, "is unblocked")
	contactAction("accept-key", "accept the other identity that asked to take over a contact's conversation (check safety-number --request first)",
		func(m *messenger.Messenger, c string) (messenger.Contact, error) { return m.AcceptKeyChange(c) }, "now has the new safety number")
	contactAction("decline-key", "drop the request of another identity on a contact's conversation",
		func(m *messenger.Messenger, c string) (messenger.Contact, error) { return m.DeclineKeyChange(c) }, "keeps the known safety number")

	withProfile("reset-identity", "", "replace this profile's identity keys; every contact is asked to accept the new safety number", nil,
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := nargs(inv, 0, "no arguments"); err != nil {
				return err
			}
			if err := m.ResetIdentity(ctx); err != nil {
				return err
			}
			fmt.Fprintln(inv.stdout, "new identity; contacts see a request to accept it")
			return nil
		})
	withProfile("reset-session", "CONTACT", "start a new encrypted session with a contact", nil,
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := m.ResetSession(ctx, inv.args[0]); err != nil {
				return err
			}
			fmt.Fprintln(inv.stdout, "session reset")
			return nil
		})
	withProfile("move-relay", "URL", "move this profile's mailboxes to another relay and tell every contact", nil,
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := m.MoveRelay(ctx, inv.args[0]); err != nil {
				return err
			}
			fmt.Fprintf(inv.stdout, "moved to %s\n", m.RelayURL())
			return nil
		})
	register(&command{
		name: "change-passphrase", args: "", summary: "change the profile's passphrase (new one from EPHEMERA_NEW_PASSPHRASE or --new-passphrase-file); --rekey also re-encrypts everything",
		setFlags: func(fs *flag.FlagSet) {
			pf.set(fs)
			fs.StringVar(&newPassFile, "new-passphrase-file", "", "read the new passphrase from `file`")
			fs.BoolVar(&rekey, "rekey", false, "re-encrypt everything under a new key, so an old copy of the profile's header or a backup with the old passphrase opens nothing of it (without it, the change is quick but an old copy still opens the profile)")
		},
		run: func(ctx context.Context, inv *invocation) error {
			if len(inv.args) != 0 {
				return usageError("unexpected argument %q", inv.args[0])
			}
			var newPass []byte
			if newPassFile != "" {
				b, err := os.ReadFile(newPassFile)
				if err != nil {
					return err
				}
				newPass = []byte(strings.TrimRight(string(b), "\r\n"))
			} else {
				newPass = []byte(os.Getenv("EPHEMERA_NEW_PASSPHRASE"))
			}
			if len(newPass) == 0 {
				return errors.New("no new passphrase: set EPHEMERA_NEW_PASSPHRASE or use --new-passphrase-file")
			}
			cfg, err := pf.config(inv)
			if err != nil {
				return err
			}
			m, err := messenger.Open(cfg)
			if errors.Is(err, messenger.ErrWrongPassphrase) {
				return errors.New("wrong passphrase")
			}
			if err != nil {
				return err
			}
			if rekey {
				err = m.ChangePassphraseRekey(cfg.Passphrase, newPass)
			} else {
				err = m.ChangePassphrase(cfg.Passphrase, newPass)
			}
			switch {
			case err == nil && rekey:
				fmt.Fprintln(inv.stdout, "passphrase changed and everything re-encrypted under a new key")
			case err == nil:
				fmt.Fprintln(inv.stdout, "passphrase changed")
			}
			return errors.Join(err, m.Close())
		},
	})

	withProfile("rename", "CONTACT NAME", "rename a contact (an empty NAME restores their pseudonym)", nil,
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := nargs(inv, 2, "a contact and a name"); err != nil {
				return err
			}
			c, err := m.RenameContact(inv.args[0], inv.args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(inv.stdout, "renamed to %s\n", c.Name)
			return nil
		})
	withProfile("delete", "CONTACT", "delete a contact with its session and whole history", nil,
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := nargs(inv, 1, "a contact"); err != nil {
				return err
			}
			return m.DeleteContact(inv.args[0])
		})

	var backupPassFile string
	backupFlags := func(fs *flag.FlagSet) {
		fs.StringVar(&backupPassFile, "backup-passphrase-file", "", "read the backup's passphrase from `file` (else env EPHEMERA_BACKUP_PASSPHRASE)")
	}
	backupPass := func() ([]byte, error) {
		if backupPassFile != "" {
			b, err := os.ReadFile(backupPassFile)
			return []byte(strings.TrimRight(string(b), "\r\n")), err
		}
		if s := os.Getenv("EPHEMERA_BACKUP_PASSPHRASE"); s != "" {
			return []byte(s), nil
		}
		return nil, errors.New("no backup passphrase: set EPHEMERA_BACKUP_PASSPHRASE or use --backup-passphrase-file")
	}
	withProfile("export-backup", "FILE", "write the whole profile as one encrypted backup file", backupFlags,
		func(ctx context.Context, inv *invocation, m *messenger.Messenger) error {
			if err := nargs(inv, 1, "a backup file"); err != nil {
				return err
			}
			pass, err := backupPass()
			if err != nil {
				return err
			}
			return m.ExportBackup(inv.args[0], pass)
		})
	register(&command{
		name: "import-backup", args: "FILE", summary: "restore a backup into an empty profile folder",
		setFlags: func(fs *flag.FlagSet) { pf.set(fs); backupFlags(fs) },
		run: func(ctx context.Context, inv *invocation) error {
			if err := nargs(inv, 1, "a backup file"); err != nil {
				return err
			}
			pass, err := backupPass()
			if err != nil {
				return err
			}
			dir, err := pf.folder()
			if err != nil {
				return err
			}
			if err := messenger.ImportBackup(inv.args[0], pass, dir, allowInsecureKDF); err != nil {
				return err
			}
			fmt.Fprintf(inv.stdout, "restored into %s\n", dir)
			return nil
		},
	})
}

func init() {
	register(&command{
		name: "repair-discard-lost-keys", args: "",
		summary: "DESTRUCTIVE: delete the messages and attachments whose keys vault.keys lost (restore vault.keys from a backup instead if you can)",
		setFlags: func(fs *flag.FlagSet) {
			pf.set(fs)
			fs.BoolVar(&confirmDiscard, "yes-delete-them", false, "confirm that the messages and attachments whose keys are lost are to be deleted")
		},
		run: func(ctx context.Context, inv *invocation) error {
			if len(inv.args) != 0 {
				return usageError("unexpected argument %q", inv.args[0])
			}
			if !confirmDiscard {
				return errors.New("this deletes for good every message and attachment whose key vault.keys lost; keep a copy of the profile folder, then run it again with --yes-delete-them")
			}
			cfg, err := pf.config(inv)
			if err != nil {
				return err
			}
			n, err := messenger.DiscardLostKeys(cfg)
			if errors.Is(err, messenger.ErrWrongPassphrase) {
				return errors.New("wrong passphrase")
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(inv.stdout, "deleted %d messages and attachments whose keys were lost\n", n)
			return nil
		},
	})
}

var (
	confirmDiscard bool // repair-discard-lost-keys --yes-delete-them
	newPassFile    string
	rekey          bool // change-passphrase --rekey
)

func printMessage(w io.Writer, m messenger.Message, asJSON bool) error {
	if asJSON {
		return printJSON(w, toJSON(m))
	}
	from := "me"
	if m.From != "me" {
		from = m.From[:min(8, len(m.From))]
	}
	text := m.Text
	if m.File != nil {
		text = fmt.Sprintf("[file %s, %d bytes, %s]", m.File.Name, m.File.Size, m.File.Type)
	}
	_, err := fmt.Fprintf(w, "%s %s %-9s %s\n", m.SentAt.Local().Format("2006-01-02 15:04"), from, m.State, text)
	return err
}

// recvLoop prints incoming messages until the backlog is drained (idle
// 0) or until idle passes with nothing new. Printed messages count as
// shown: burn-on-read countdowns start.
func recvLoop(ctx context.Context, inv *invocation, m *messenger.Messenger, sub *messenger.Subscription, idle time.Duration, asJSON bool) error {
	syncDone := make(chan error, 1)
	go func() { syncDone <- pf.sync(ctx, m) }()
	quietFor := idle
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	if idle > 0 {
		timer.Reset(idle)
	}
	synced := false
	for {
		select {
		case err := <-syncDone:
			if err != nil {
				return err
			}
			synced = true
			if idle == 0 {
				// Print what is still queued, then stop.
				return drainEvents(inv, m, sub, asJSON)
			}
		case e, ok := <-sub.Events():
			if !ok {
				return nil
			}
			if printed, err := showEvent(inv, m, e, asJSON); err != nil {
				return err
			} else if printed && quietFor > 0 {
				timer.Reset(quietFor)
			}
		case <-timer.C:
			if synced || idle > 0 {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func drainEvents(inv *invocation, m *messenger.Messenger, sub *messenger.Subscription, asJSON bool) error {
	for {
		select {
		case e, ok := <-sub.Events():
			if !ok {
				return nil
			}
			if _, err := showEvent(inv, m, e, asJSON); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func showEvent(inv *invocation, m *messenger.Messenger, e messenger.Event, asJSON bool) (bool, error) {
	switch e := e.(type) {
	case messenger.IdentityRequest:
		if asJSON {
			return true, printJSON(inv.stdout, map[string]string{"event": "identity-request",
				"contact": e.Contact.ID, "name": e.Contact.Name, "pseudonym": e.Pseudonym})
		}
		_, err := fmt.Fprintf(inv.stdout, "request: %q, with another safety number than %s's, wrote on %s's mailbox; nothing changes unless you run accept-key %s (compare safety-number --request %s first) or decline-key\n",
			e.Pseudonym, e.Contact.Name, e.Contact.Name, e.Contact.ID, e.Contact.ID)
		return true, err
	case messenger.InviteRefused:
		if asJSON {
			return true, printJSON(inv.stdout, map[string]string{"event": "invite-refused",
				"contact": e.Contact.ID, "name": e.Contact.Name, "reason": e.Reason})
		}
		why := "was already used"
		if e.Reason == messenger.RefusedExpired {
			why = "had expired"
		}
		_, err := fmt.Fprintf(inv.stdout, "refused: %s did not add you, the invite %s; ask for a new one\n", e.Contact.Name, why)
		return true, err
	case messenger.OldVersionIgnored:
		if asJSON {
			return true, printJSON(inv.stdout, map[string]string{"event": "old-version", "contact": e.Contact, "invite": e.Invite})
		}
		who := "an answer to invite " + e.Invite
		if e.Contact != "" {
			who = "a message from " + e.Contact
		}
		_, err := fmt.Fprintf(inv.stdout, "ignored %s: made by an older version of Ephemera, which must update\n", who)
		return true, err
	}
	ma, ok := e.(messenger.MessageAdded)
	if !ok || ma.Message.From == "me" {
		return false, nil
	}
	if err := printMessage(inv.stdout, ma.Message, asJSON); err != nil {
		return false, err
	}
	if _, err := m.MarkShown(ma.Message.Conversation, ma.Message.ID); err != nil {
		return true, err
	}
	return true, nil
}
