-- mod_xc_slow: test-net module for "slow" domains of xcensus' test network.
-- Delays the host's answers to disco#info and XEP-0092 version queries by
-- xc_slow_delay seconds (default 5), then lets the normal handlers answer.
-- Loaded per VirtualHost by tests/testnet/testnet; never for real servers.

local delay = module:get_option_number("xc_slow_delay", 5);
local marker = {};

local function delayed(event_name)
	module:hook(event_name, function (event)
		if event[marker] then
			return; -- second pass: let mod_disco / mod_version answer
		end
		event[marker] = true;
		module:add_timer(delay, function ()
			module:fire_event(event_name, event);
		end);
		return true;
	end, 1000);
end

delayed("iq-get/host/http://jabber.org/protocol/disco#info:query");
delayed("iq-get/host/jabber:iq:version:query");
