      ************************************************************
      * HEADER / DETAIL / TRAILER records of one file, each an 01.
      ************************************************************
       01 HDR-RECORD.
          05 HDR-RECORD-TYPE                     PIC X.
             88 HDR-REC                VALUE 'H'.
          05 HDR-CREATION-DATE                   PIC 9(8).
          05 HDR-VERSION                         PIC 9(3)V99.
       01 DTL-RECORD.
          05 DTL-RECORD-TYPE                     PIC X.
             88 DTL-REC                VALUE 'D'.
          05 DTL-FIELD-1                         PIC X(10).
          05 DTL-FIELD-2                         PIC S9(7)V99 COMP-3.
       01 TRL-RECORD.
          05 TRL-RECORD-TYPE                     PIC X.
             88 TRL-REC                VALUE 'T'.
          05 TRL-RECORD-COUNT                    PIC 9(9).
