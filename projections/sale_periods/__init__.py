"""The sale-periods read model: one timeline per sale period of a ticket."""
