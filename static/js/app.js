// ChatIn's small browser helpers. Everything works without them; they only make it nicer.
"use strict";
