"""One module per `ticket-audit` subcommand."""
