-- A batch's poll claim apart from its next poll time: analyses waiting on a batch that another
-- worker is polling right now look again shortly, instead of sleeping until the claim lapses.
ALTER TABLE llm_batches ADD COLUMN poll_claimed_until TIMESTAMPTZ;
