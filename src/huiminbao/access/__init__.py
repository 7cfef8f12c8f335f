"""Access: who may call which API route or page (policies, tokens, hospital signatures) and the
refusal every interface answers with. Below ``api`` and ``web``, so both declare policies the same way."""
