-- POST config.path with a fresh Idempotency-Key each time; after every tenth order answered
-- 201, the same key (and body) once more, which must answer 200 with the same order. Logs each
-- answer with "<key> new" or "<key> retry".

local sent_keys, created, retry_next = 0, 0, nil

function next_request()
  local key, how = retry_next, "retry"
  retry_next = nil
  if key == nil then
    sent_keys = sent_keys + 1
    key, how = string.format("%s-%d-%d", config.key_prefix, thread_number, sent_keys), "new"
  end
  local wire = format("POST", config.path, {["Idempotency-Key"] = key}, config.body)
  return {key = key, how = how, label = key .. " " .. how, wire = wire}
end

function on_answer(status, sent)
  if status == 201 and sent.how == "new" then
    created = created + 1
    if created % config.retry_every == 0 then retry_next = sent.key end
  end
end
