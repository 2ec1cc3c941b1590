package pipeline

import (
	"testing"
	"time"
)

// TestBeats checks the pipeline's beat: the partitions cut on multiples of
// the interval, and the producer sends a partial batch a moment before each.
func TestBeats(t *testing.T) {
	beat := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	tests := []struct {
		name      string
		at        time.Duration // after a beat
		every     time.Duration
		cut, send time.Duration
		lead      time.Duration
	}{
		{name: "on a beat", at: 0, every: 50 * time.Millisecond, cut: 50 * time.Millisecond, send: 40 * time.Millisecond, lead: sendLead},
		{name: "just before the send", at: 39 * time.Millisecond, every: 50 * time.Millisecond, cut: 11 * time.Millisecond, send: time.Millisecond, lead: sendLead},
		{name: "past the send", at: 41 * time.Millisecond, every: 50 * time.Millisecond, cut: 9 * time.Millisecond, send: 49 * time.Millisecond, lead: sendLead},
		{name: "a short beat leads by a quarter", at: 0, every: 8 * time.Millisecond, cut: 8 * time.Millisecond, send: 6 * time.Millisecond, lead: 2 * time.Millisecond},
		{name: "a longer beat leads by a tenth", at: 0, every: 400 * time.Millisecond, cut: 400 * time.Millisecond, send: 360 * time.Millisecond, lead: 40 * time.Millisecond},
		{name: "a long beat leads by at most the longest lead", at: 0, every: 2 * time.Second, cut: 2 * time.Second, send: 2*time.Second - maxSendLead, lead: maxSendLead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := beat.Add(tt.at)
			if got := untilBeat(now, tt.every); got != tt.cut {
				t.Errorf("untilBeat = %v, want %v", got, tt.cut)
			}
			got := untilSend(now, tt.every)
			if got != tt.send {
				t.Errorf("untilSend = %v, want %v", got, tt.send)
			}
			// The batch leaves its lead before a beat.
			if next := untilBeat(now.Add(got), tt.every); next != tt.lead {
				t.Errorf("sent %v before a beat, want %v", next, tt.lead)
			}
		})
	}
}
