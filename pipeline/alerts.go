package pipeline

import "github.com/tradetop/tradetop/state"

// ShowAlerts puts the judgement of alert rules into the snapshots the
// pipeline publishes from now on, so that the terminal UI, the ssh sessions
// and attached viewers show it as they show the rest: firing replaces the
// alerts firing now (Snapshot.Alerts), and events join the pipeline's
// events, as they are, neither logged nor counted as errors (the caller logs
// them). The pipeline only carries them: the rules are judged outside it,
// from its snapshots. Any goroutine may call it; it does not block.
func (p *Pipeline) ShowAlerts(firing []state.Alert, events []state.Event) {
	firing = append([]state.Alert(nil), firing...)
	p.alerts.Store(&firing)
	if len(events) == 0 {
		return
	}
	p.errs.mu.Lock()
	defer p.errs.mu.Unlock()
	for _, e := range events {
		p.errs.push(e)
	}
}

// firing returns the alerts firing now, as ShowAlerts last set them.
func (p *Pipeline) firing() []state.Alert {
	if a := p.alerts.Load(); a != nil && len(*a) > 0 {
		return *a
	}
	return nil
}
