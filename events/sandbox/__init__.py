"""The built-in LeadPing sandbox: a local fake of `GET /events/{eventId}/detail`."""
