package messenger

import (
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/core/links"
)

func TestSettingsPersistAcrossUnlock(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Passphrase: []byte("settings pass"), Pseudonym: "sam", RelayURL: "ws://127.0.0.1:1/v1/ws",
		InsecureTestKDF: true, NoSync: true}
	m, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Settings(); got != (Settings{}) {
		t.Fatalf("new profile settings = %+v, want the zero value", got)
	}
	if got := m.Settings().AutoLockAfter(); got != DefaultAutoLock {
		t.Errorf("default auto-lock = %v, want %v", got, DefaultAutoLock)
	}
	if err := m.SetSettings(Settings{AutoLock: time.Second}); err == nil {
		t.Error("auto-lock of 1s accepted")
	}
	want := Settings{ReadReceipts: true, AutoLock: -1, Interstitial: links.InterstitialAlways, NotifyContent: true,
		ClipboardClear: 30 * time.Second}
	if err := m.SetSettings(want); err != nil {
		t.Fatal(err)
	}
	if got := m.Settings(); got != want {
		t.Errorf("settings = %+v, want %+v", got, want)
	}
	if err := m.Shred(); err != nil {
		t.Fatalf("Shred: %v", err)
	}
	m.Close()
	m, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := m.Settings()
	if got != want {
		t.Errorf("after reopening settings = %+v, want %+v", got, want)
	}
	if got.AutoLockAfter() != 0 || got.ClipboardClearAfter() != 30*time.Second {
		t.Errorf("effective auto-lock %v, clipboard %v; want never and 30s", got.AutoLockAfter(), got.ClipboardClearAfter())
	}
}
