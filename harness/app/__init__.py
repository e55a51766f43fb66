"""The app's side, as a client: its flow over HTTP, logging in, the photo corpus it
photographs, and the one probe of a target."""
