-- The in-memory filter of band keys (which keys `entry_bands` may hold), kept between processes.
-- A poll that looks up many band keys needs it, and building it reads every band row (3 million
-- at 50,000 entries); loading the saved one reads a few megabytes. It is a cache: saved in the
-- transaction that writes the band rows it covers, loaded only while `entry_bands` still holds
-- exactly `band_rows` rows and a sample of its keys are all in it, and otherwise ignored (the
-- filter is then built from the table as before). Deleting these rows only costs that build.
CREATE TABLE band_filter_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    band_rows INTEGER NOT NULL,   -- rows of entry_bands the saved filter covers
    capacity  INTEGER NOT NULL,   -- keys its layers were sized for
    items     INTEGER NOT NULL    -- keys added to it
);
CREATE TABLE band_filter (
    layer  INTEGER NOT NULL,      -- 0 = oldest; a layer is added when the others are full
    chunk  INTEGER NOT NULL,      -- the layer's bits in order, 256 KiB a chunk
    hashes INTEGER NOT NULL,      -- hash functions of the layer
    bits   BLOB NOT NULL,         -- 64-bit words, little-endian
    PRIMARY KEY (layer, chunk)
);
