-- The thread note that says where a reassignment sent a request had the key of the request's new message
-- ('reassigned:<version>'), so when the request went to the channel its message was already in, whichever of the two
-- deliveries claimed first stood in for the other, and the note was redrawn as if it were the request's message.
-- Notes now have keys of their own; the stored ones (a reply keeps its text in body, a request message does not) are
-- renamed.
UPDATE chat_messages
SET delivery_key = 'reassigned-note:' || substr(delivery_key, 12)
WHERE delivery_key LIKE 'reassigned:%' AND body IS NOT NULL;
