-- GET config.items in turn (each thread from its own place); logs each answer with the item's
-- number (1-based).

local next_item = 0

function start_thread()
  next_item = (thread_number * 7) % #config.items
end

function next_request()
  next_item = next_item % #config.items + 1
  return {label = tostring(next_item), wire = format("GET", config.items[next_item].path)}
end
